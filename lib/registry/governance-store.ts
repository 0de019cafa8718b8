import type { Sql } from './sql';
import { type RegisteredModelPolicy, policySha256 } from '../access/model-policy';
import type { ServingPolicy, ServingPolicyRecord } from '../serving/policy';
import { ConflictError, NotFoundError } from '../errors';
import type { AccessKey, AuditEvent, NewAuditEvent, NewModelPolicy, StandingGrant } from './types';
import { type PolicyRow, toKey, toPolicy } from './rows';
import { now } from './sql-store';
import { VersionStore } from './version-store';

/** Who may do what: serving policies, the audit trail, signing keys, model policies, standing grants, nonces. */
export class GovernanceStore extends VersionStore {
  async servingPolicy(model: string): Promise<ServingPolicyRecord | null> {
    const q = this.sql;
    const row = await q.get<{
      model: string;
      policy_json: string;
      updated_by: string;
      reason: string;
      updated_at: string;
    }>('SELECT * FROM serving_policies WHERE model = ?', [model]);
    return row
      ? {
          model: row.model,
          policy: JSON.parse(row.policy_json) as ServingPolicy,
          updatedBy: row.updated_by,
          reason: row.reason,
          updatedAt: row.updated_at,
        }
      : null;
  }

  async setServingPolicy(model: string, policy: ServingPolicy, actor: string, reason: string): Promise<void> {
    const q = this.sql;
    await q.run(
      `INSERT INTO serving_policies (model, policy_json, updated_by, reason, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (model) DO UPDATE SET policy_json = excluded.policy_json, updated_by = excluded.updated_by,
           reason = excluded.reason, updated_at = excluded.updated_at`,
      [model, JSON.stringify(policy), actor, reason, now()],
    );
  }

  async recordAudit(event: NewAuditEvent): Promise<AuditEvent> {
    const q = this.sql;
    return await this.audit(q, event);
  }

  async listAudit(filter: { model?: string; since?: string; limit?: number }): Promise<AuditEvent[]> {
    const q = this.sql;
    const rows = await q.all<Record<string, string | number | null>>(
      `SELECT * FROM (SELECT * FROM audit_events WHERE (CAST(? AS TEXT) IS NULL OR model = ? OR model = '*') AND at >= ?
           ORDER BY at DESC, id DESC LIMIT ?) AS recent ORDER BY at, id`,
      [filter.model ?? null, filter.model ?? null, filter.since ?? '', filter.limit ?? 1000],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      at: String(r.at),
      model: String(r.model),
      action: String(r.action),
      subject: JSON.parse(String(r.subject_json)) as Record<string, unknown>,
      identity: String(r.identity),
      proof: r.proof as AuditEvent['proof'],
      keyId: r.key_id === null ? null : String(r.key_id),
      outcome: r.outcome as AuditEvent['outcome'],
      detail: String(r.detail),
      workflowId: r.workflow_id === null ? null : String(r.workflow_id),
    }));
  }

  async addKey(key: Pick<AccessKey, 'keyId' | 'person' | 'publicKeyPem' | 'addedBy'>): Promise<AccessKey> {
    return await this.sql.transaction(async (q): Promise<AccessKey> => {
      const existing = await this.keyRow(q, key.keyId);
      if (existing) {
        if (existing.person !== key.person) {
          throw new ConflictError(`key ${key.keyId} is already registered to ${existing.person}`);
        }
        return existing;
      }
      const at = now();
      await q.run(
        'INSERT INTO access_keys (key_id, person, public_key_pem, added_at, added_by) VALUES (?, ?, ?, ?, ?)',
        [key.keyId, key.person, key.publicKeyPem, at, key.addedBy],
      );
      await this.audit(q, {
        model: '*',
        action: 'key-added',
        subject: { keyId: key.keyId, person: key.person },
        identity: key.addedBy,
        outcome: 'applied',
        detail: `key ${key.keyId} of ${key.person}`,
        workflowId: null,
      });
      return (await this.keyRow(q, key.keyId))!;
    });
  }

  private async keyRow(q: Sql, keyId: string): Promise<AccessKey | undefined> {
    const r = await q.get<Record<string, string | null>>('SELECT * FROM access_keys WHERE key_id = ?', [keyId]);
    return r && toKey(r);
  }

  async getKey(keyId: string): Promise<AccessKey | undefined> {
    const q = this.sql;
    return await this.keyRow(q, keyId);
  }

  async listKeys(): Promise<AccessKey[]> {
    const q = this.sql;
    const rows = await q.all<Record<string, string | null>>('SELECT * FROM access_keys ORDER BY person, added_at', []);
    return rows.map(toKey);
  }

  async revokeKey(keyId: string, by: string, reason: string): Promise<AccessKey> {
    return await this.sql.transaction(async (q): Promise<AccessKey> => {
      const key = await this.keyRow(q, keyId);
      if (!key) throw new NotFoundError(`no key ${keyId} is registered (see: lumen keys list)`);
      if (key.revokedAt) return key;
      await q.run('UPDATE access_keys SET revoked_at = ?, revoked_by = ?, revoke_reason = ? WHERE key_id = ?', [
        now(),
        by,
        reason,
        keyId,
      ]);
      await this.audit(q, {
        model: '*',
        action: 'key-revoked',
        subject: { keyId, person: key.person },
        identity: by,
        outcome: 'applied',
        detail: reason,
        workflowId: null,
      });
      return (await this.keyRow(q, keyId))!;
    });
  }

  async modelPolicy(model: string): Promise<RegisteredModelPolicy | null> {
    const row = await this.sql.get<PolicyRow>(
      'SELECT * FROM model_policies WHERE model = ? ORDER BY version DESC LIMIT 1',
      [model],
    );
    return row ? toPolicy(row) : null;
  }

  async modelPolicyHistory(model: string): Promise<RegisteredModelPolicy[]> {
    const rows = await this.sql.all<PolicyRow>('SELECT * FROM model_policies WHERE model = ? ORDER BY version', [
      model,
    ]);
    return rows.map(toPolicy);
  }

  async registerModelPolicy(entry: NewModelPolicy): Promise<RegisteredModelPolicy> {
    return await this.sql.transaction(async (q): Promise<RegisteredModelPolicy> => {
      const latest = await q.get<PolicyRow>(
        'SELECT * FROM model_policies WHERE model = ? ORDER BY version DESC LIMIT 1',
        [entry.model],
      );
      const current = latest ? toPolicy(latest) : null;
      if ((current?.version ?? 0) !== entry.expectedVersion) {
        throw new ConflictError(
          current
            ? `the policy of ${entry.model} is at v${current.version} (set by ${current.setBy} at ${current.at}), not v${entry.expectedVersion}: read it again (lumen policy show ${entry.model})`
            : `${entry.model} has no registered policy yet, not v${entry.expectedVersion}`,
        );
      }
      const sha256 = policySha256(entry.policy);
      if (current && current.sha256 === sha256) return current;
      const version = (current?.version ?? 0) + 1;
      const at = now();
      await q.run(
        `INSERT INTO model_policies (model, version, policy_json, sha256, set_by, proof, reason, at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        [entry.model, version, JSON.stringify(entry.policy), sha256, entry.setBy, entry.proof, entry.reason, at],
      );
      await this.audit(q, {
        model: entry.model,
        action: 'policy-registered',
        subject: { version, sha256 },
        identity: entry.setBy,
        proof: entry.proof,
        outcome: 'applied',
        detail: entry.reason,
        workflowId: entry.workflowId,
      });
      return toPolicy(
        (await q.get<PolicyRow>('SELECT * FROM model_policies WHERE model = ? AND version = ?', [
          entry.model,
          version,
        ]))!,
      );
    });
  }

  async grant(entry: Omit<StandingGrant, 'at' | 'revokedAt' | 'revokedBy'>): Promise<StandingGrant> {
    return await this.sql.transaction(async (q): Promise<StandingGrant> => {
      await q.run(
        `INSERT INTO standing_grants (kind, id, model, content_sha256, granted_by, proof, at) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (kind, id) DO UPDATE SET model = excluded.model, content_sha256 = excluded.content_sha256,
             granted_by = excluded.granted_by, proof = excluded.proof, at = excluded.at, revoked_at = NULL,
             revoked_by = NULL`,
        [entry.kind, entry.id, entry.model, entry.contentSha256, entry.grantedBy, entry.proof, now()],
      );
      return (await this.grantRow(q, entry.kind, entry.id))!;
    });
  }

  async standingGrant(kind: StandingGrant['kind'], id: string): Promise<StandingGrant | null> {
    return await this.grantRow(this.sql, kind, id);
  }

  async revokeGrant(kind: StandingGrant['kind'], id: string, by: string): Promise<void> {
    await this.sql.run(
      'UPDATE standing_grants SET revoked_at = ?, revoked_by = ? WHERE kind = ? AND id = ? AND revoked_at IS NULL',
      [now(), by, kind, id],
    );
  }

  private async grantRow(q: Sql, kind: string, id: string): Promise<StandingGrant | null> {
    const r = await q.get<Record<string, string | null>>('SELECT * FROM standing_grants WHERE kind = ? AND id = ?', [
      kind,
      id,
    ]);
    if (!r) return null;
    return {
      kind: r.kind as StandingGrant['kind'],
      id: String(r.id),
      model: String(r.model),
      contentSha256: String(r.content_sha256),
      grantedBy: String(r.granted_by),
      proof: r.proof as StandingGrant['proof'],
      at: String(r.at),
      revokedAt: r.revoked_at,
      revokedBy: r.revoked_by,
    };
  }

  async useNonce(
    nonce: string,
    keyId: string,
    context: string,
  ): Promise<{ fresh: boolean; context: string; at: string }> {
    return await this.sql.transaction(async (q) => {
      const seen = await q.get<{ context: string; at: string }>(
        'SELECT context, at FROM decision_nonces WHERE nonce = ?',
        [nonce],
      );
      if (seen) return { fresh: seen.context === context, ...seen };
      const at = now();
      await q.run('INSERT INTO decision_nonces (nonce, key_id, context, at) VALUES (?, ?, ?, ?)', [
        nonce,
        keyId,
        context,
        at,
      ]);
      return { fresh: true, context, at };
    });
  }
}
