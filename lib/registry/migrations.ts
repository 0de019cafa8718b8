/** Schema migrations, applied in order (SQLite: PRAGMA user_version; PostgreSQL: lumen_migrations counts them). */
export const MIGRATIONS = [
  `CREATE TABLE datasets (
     sha256 TEXT PRIMARY KEY,
     uri TEXT NOT NULL,
     rows INTEGER NOT NULL,
     source_json TEXT NOT NULL,
     source_fingerprint TEXT NOT NULL,
     columns_json TEXT NOT NULL,
     validation_json TEXT,
     created_at TEXT NOT NULL
   );
   CREATE TABLE model_versions (
     model TEXT NOT NULL,
     version INTEGER NOT NULL,
     artifact_uri TEXT NOT NULL,
     artifact_sha256 TEXT NOT NULL,
     artifact_bytes INTEGER NOT NULL,
     task TEXT NOT NULL,
     spec_hash TEXT NOT NULL,
     spec_json TEXT NOT NULL,
     dataset_sha256 TEXT NOT NULL REFERENCES datasets(sha256),
     code_version TEXT NOT NULL,
     backend TEXT NOT NULL,
     seed INTEGER NOT NULL,
     workflow_id TEXT NOT NULL,
     run_id TEXT NOT NULL,
     metrics_json TEXT NOT NULL,
     training_json TEXT NOT NULL,
     evaluation_json TEXT NOT NULL,
     created_at TEXT NOT NULL,
     PRIMARY KEY (model, version),
     UNIQUE (model, workflow_id)
   );
   CREATE INDEX model_versions_dataset ON model_versions(dataset_sha256);
   CREATE TABLE aliases (
     model TEXT NOT NULL,
     alias TEXT NOT NULL,
     version INTEGER NOT NULL,
     updated_at TEXT NOT NULL,
     PRIMARY KEY (model, alias),
     FOREIGN KEY (model, version) REFERENCES model_versions(model, version)
   );
   CREATE TABLE alias_events (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     model TEXT NOT NULL,
     alias TEXT NOT NULL,
     from_version INTEGER,
     to_version INTEGER,
     actor TEXT NOT NULL,
     reason TEXT NOT NULL,
     workflow_id TEXT,
     run_id TEXT,
     request_id TEXT NOT NULL,
     at TEXT NOT NULL,
     UNIQUE (request_id, alias)
   );
   CREATE INDEX alias_events_model ON alias_events(model, at);`,
  `ALTER TABLE datasets ADD COLUMN profile_json TEXT;
   ALTER TABLE datasets ADD COLUMN derived_from_json TEXT;
   ALTER TABLE model_versions ADD COLUMN source_dataset_sha256 TEXT;
   ALTER TABLE model_versions ADD COLUMN lineage_json TEXT;
   CREATE INDEX model_versions_source ON model_versions(source_dataset_sha256);
   CREATE TABLE validations (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     model TEXT NOT NULL,
     dataset_sha256 TEXT NOT NULL REFERENCES datasets(sha256),
     outcome TEXT NOT NULL,
     trainable INTEGER NOT NULL,
     contract_hash TEXT NOT NULL,
     report_json TEXT NOT NULL,
     html_json TEXT NOT NULL,
     profile_json TEXT NOT NULL,
     quarantine_json TEXT,
     training_dataset_sha256 TEXT NOT NULL,
     decision TEXT NOT NULL,
     decided_by TEXT,
     reason TEXT,
     workflow_id TEXT NOT NULL,
     run_id TEXT NOT NULL,
     created_at TEXT NOT NULL,
     decided_at TEXT,
     UNIQUE (model, dataset_sha256, workflow_id)
   );
   CREATE INDEX validations_model ON validations(model, decision);
   CREATE TABLE alerts (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     model TEXT NOT NULL,
     severity TEXT NOT NULL,
     kind TEXT NOT NULL,
     message TEXT NOT NULL,
     details_json TEXT NOT NULL,
     workflow_id TEXT,
     run_id TEXT,
     dedupe_key TEXT UNIQUE,
     at TEXT NOT NULL
   );
   CREATE INDEX alerts_model ON alerts(model, at);`,
  `ALTER TABLE model_versions ADD COLUMN load_check_json TEXT;
   CREATE TABLE approvals (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     model TEXT NOT NULL,
     version INTEGER NOT NULL,
     artifact_sha256 TEXT NOT NULL,
     workflow_id TEXT NOT NULL,
     run_id TEXT NOT NULL,
     status TEXT NOT NULL,
     requested_at TEXT NOT NULL,
     decided_by TEXT,
     comment TEXT,
     decided_at TEXT,
     UNIQUE (model, version, workflow_id),
     FOREIGN KEY (model, version) REFERENCES model_versions(model, version)
   );
   CREATE INDEX approvals_status ON approvals(status, model);
   CREATE INDEX alias_events_at ON alias_events(model, alias, at);`,
  `CREATE TABLE serving_policies (
     model TEXT PRIMARY KEY,
     policy_json TEXT NOT NULL,
     updated_by TEXT NOT NULL,
     reason TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE TABLE serving_instances (
     id TEXT PRIMARY KEY,
     url TEXT NOT NULL,
     last_seen TEXT NOT NULL
   );`,
  `CREATE TABLE monitor_reports (
     id INTEGER PRIMARY KEY,
     model TEXT NOT NULL,
     champion INTEGER,
     window_from TEXT NOT NULL,
     window_to TEXT NOT NULL,
     at TEXT NOT NULL,
     report_uri TEXT NOT NULL,
     report_sha256 TEXT NOT NULL,
     report_bytes INTEGER NOT NULL,
     summary_json TEXT NOT NULL,
     UNIQUE (model, window_from, window_to)
   );
   CREATE INDEX monitor_reports_by_time ON monitor_reports (model, window_to);
   CREATE TABLE monitor_actions (
     id INTEGER PRIMARY KEY,
     model TEXT NOT NULL,
     kind TEXT NOT NULL,
     trigger TEXT NOT NULL,
     by TEXT NOT NULL,
     reason TEXT NOT NULL,
     evidence_json TEXT NOT NULL,
     result_json TEXT NOT NULL,
     workflow_id TEXT,
     dedupe_key TEXT NOT NULL UNIQUE,
     at TEXT NOT NULL
   );
   CREATE INDEX monitor_actions_by_model ON monitor_actions (model, id);`,
  `CREATE TABLE schedule_runs (
     id INTEGER PRIMARY KEY,
     schedule_id TEXT NOT NULL,
     model TEXT NOT NULL,
     workflow_id TEXT NOT NULL,
     ok INTEGER NOT NULL,
     detail TEXT NOT NULL,
     at TEXT NOT NULL,
     UNIQUE (schedule_id, workflow_id)
   );`,
  `CREATE TABLE access_keys (
     key_id TEXT PRIMARY KEY,
     person TEXT NOT NULL,
     public_key_pem TEXT NOT NULL,
     added_at TEXT NOT NULL,
     added_by TEXT NOT NULL,
     revoked_at TEXT,
     revoked_by TEXT,
     revoke_reason TEXT
   );
   CREATE TABLE decision_nonces (
     nonce TEXT PRIMARY KEY,
     key_id TEXT NOT NULL,
     context TEXT NOT NULL,
     at TEXT NOT NULL
   );
   CREATE TABLE audit_events (
     id INTEGER PRIMARY KEY,
     at TEXT NOT NULL,
     model TEXT NOT NULL,
     action TEXT NOT NULL,
     subject_json TEXT NOT NULL,
     identity TEXT NOT NULL,
     proof TEXT NOT NULL,
     key_id TEXT,
     outcome TEXT NOT NULL,
     detail TEXT NOT NULL,
     workflow_id TEXT
   );
   CREATE INDEX audit_events_by_model ON audit_events (model, at);`,
  `CREATE TABLE model_policies (
     model TEXT NOT NULL,
     version INTEGER NOT NULL,
     policy_json TEXT NOT NULL,
     sha256 TEXT NOT NULL,
     set_by TEXT NOT NULL,
     proof TEXT NOT NULL,
     reason TEXT NOT NULL,
     at TEXT NOT NULL,
     PRIMARY KEY (model, version)
   );
   CREATE TABLE standing_grants (
     kind TEXT NOT NULL,
     id TEXT NOT NULL,
     model TEXT NOT NULL,
     content_sha256 TEXT NOT NULL,
     granted_by TEXT NOT NULL,
     proof TEXT NOT NULL,
     at TEXT NOT NULL,
     revoked_at TEXT,
     revoked_by TEXT,
     PRIMARY KEY (kind, id)
   );`,
];
