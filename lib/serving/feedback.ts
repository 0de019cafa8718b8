import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { ArtifactStore } from '../artifacts';
import { readJsonArtifact } from '../artifacts/store';
import { labelContract, labelProblem, type LabelContract } from '../labels';
import { Profile } from '../validation/profile';
import type { Registry } from '../registry/types';
import { PREDICTION_ID, predictionTime } from './ids';
import { findLogged } from './log-segments';

/**
 * True labels for served predictions, arriving late and in batches. Keyed by prediction id: the first label for a
 * prediction stands; the same label sent again is a no-op, a different one is a conflict and is refused (a label
 * that changes silently would rewrite the monitor's history) — unless it is sent as a correction
 * (`"correct": true` with a reason, by an admin), which replaces it and keeps the old one in feedback_history.
 * Every label is judged before it is kept: its prediction id must be one the service answered, and the label must
 * mean something under the rule of the version that answered (lib/labels.ts).
 */
export interface FeedbackItem {
  predictionId: string;
  label: unknown;
  /** replace the label recorded for this prediction (admin only, with a reason) */
  correct?: boolean;
  reason?: string;
}

/** What the service knows of a prediction id: the model that answered it and how its labels are judged. */
export interface AnsweredPrediction {
  model: string;
  version: number;
  /** why a label cannot be used for this prediction, or null */
  labelProblem: (label: unknown) => string | null;
}

export interface FeedbackCorrection {
  predictionId: string;
  model: string;
  from: unknown;
  to: unknown;
  reason: string;
}

export interface FeedbackOutcome {
  accepted: number;
  duplicates: number;
  corrected: FeedbackCorrection[];
  conflicts: { index: number; predictionId: string; recorded: unknown; sent: unknown }[];
  invalid: { index: number; reason: string }[];
  /** ids the prediction log does not hold: never issued here, or issued so recently elsewhere it is not there yet */
  unknown: { index: number; predictionId: string; reason: string }[];
}

export interface FeedbackRecord {
  predictionId: string;
  label: unknown;
  predictedAt: string;
  receivedAt: string;
}

export class FeedbackStore {
  private readonly db: Database.Database;

  constructor(file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 10000');
    this.db.exec(`CREATE TABLE IF NOT EXISTS feedback (
      prediction_id TEXT PRIMARY KEY,
      label TEXT NOT NULL,
      predicted_at TEXT NOT NULL,
      received_at TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS answer_keys (
      model TEXT NOT NULL,
      key TEXT NOT NULL,
      prediction_id TEXT NOT NULL,
      at TEXT NOT NULL,
      PRIMARY KEY (model, key)
    );
    CREATE TABLE IF NOT EXISTS feedback_history (
      prediction_id TEXT NOT NULL,
      label TEXT NOT NULL,
      received_at TEXT NOT NULL,
      replaced_at TEXT NOT NULL,
      replaced_by TEXT NOT NULL,
      reason TEXT NOT NULL
    )`);
  }

  /**
   * Keep the labels that can be used; list every other item with its reason. `answered` says what the service knows
   * of an id (undefined: not in the prediction log); `corrector` is who may correct (null: nobody, in this request).
   */
  record(
    items: unknown[],
    answered: (predictionId: string) => AnsweredPrediction | undefined,
    corrector: string | null = null,
  ): FeedbackOutcome {
    const outcome: FeedbackOutcome = {
      accepted: 0,
      duplicates: 0,
      corrected: [],
      conflicts: [],
      invalid: [],
      unknown: [],
    };
    const now = new Date().toISOString();
    const insert = this.db.prepare(
      'INSERT INTO feedback (prediction_id, label, predicted_at, received_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
    );
    const existing = this.db.prepare('SELECT label, received_at FROM feedback WHERE prediction_id = ?');
    const replace = this.db.prepare('UPDATE feedback SET label = ?, received_at = ? WHERE prediction_id = ?');
    const keepOld = this.db.prepare(
      'INSERT INTO feedback_history (prediction_id, label, received_at, replaced_at, replaced_by, reason) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.db
      .transaction(() => {
        items.forEach((item, index) => {
          const wrong = itemProblem(item);
          if (wrong) {
            outcome.invalid.push({ index, reason: wrong });
            return;
          }
          const i = item as Partial<FeedbackItem> & { predictionId: string };
          if (i.label === undefined || i.label === null) {
            outcome.invalid.push({ index, reason: `no label for ${i.predictionId}` });
            return;
          }
          if (i.correct && corrector === null) {
            outcome.invalid.push({ index, reason: `a correction (of ${i.predictionId}) needs the admin token` });
            return;
          }
          const prediction = answered(i.predictionId);
          if (!prediction) {
            outcome.unknown.push({
              index,
              predictionId: i.predictionId,
              reason:
                `${i.predictionId} is not in the prediction log: it was never answered here (if another host ` +
                'answered it in the last seconds, send it again shortly)',
            });
            return;
          }
          const problem = prediction.labelProblem(i.label);
          if (problem) {
            outcome.invalid.push({
              index,
              reason: `label for ${i.predictionId} (${prediction.model} v${prediction.version}): ${problem}`,
            });
            return;
          }
          const label = JSON.stringify(i.label);
          const predictedAt = new Date(predictionTime(i.predictionId)).toISOString();
          if (insert.run(i.predictionId, label, predictedAt, now).changes === 1) {
            outcome.accepted++;
            return;
          }
          const recorded = existing.get(i.predictionId) as { label: string; received_at: string };
          if (recorded.label === label) {
            outcome.duplicates++;
          } else if (i.correct) {
            keepOld.run(i.predictionId, recorded.label, recorded.received_at, now, corrector, i.reason!);
            replace.run(label, now, i.predictionId);
            outcome.corrected.push({
              predictionId: i.predictionId,
              model: prediction.model,
              from: JSON.parse(recorded.label),
              to: i.label,
              reason: i.reason!,
            });
          } else {
            outcome.conflicts.push({
              index,
              predictionId: i.predictionId,
              recorded: JSON.parse(recorded.label),
              sent: i.label,
            });
          }
        });
      })
      .immediate();
    return outcome;
  }

  /**
   * Remember which prediction answered an event, under the event's own key (a business key: an order, a flight), so
   * a label sent later under that key finds its prediction. The latest answer under a key stands; keys older than
   * `keepDays` are forgotten.
   */
  rememberKeys(model: string, pairs: [key: string, predictionId: string][], keepDays = 30): void {
    const now = new Date();
    const put = this.db.prepare(
      'INSERT INTO answer_keys (model, key, prediction_id, at) VALUES (?, ?, ?, ?) ON CONFLICT (model, key) DO UPDATE SET prediction_id = excluded.prediction_id, at = excluded.at',
    );
    this.db
      .transaction(() => {
        for (const [key, id] of pairs) put.run(model, key, id, now.toISOString());
      })
      .immediate();
    if (Math.random() < 0.01) {
      const before = new Date(now.getTime() - keepDays * 86_400_000).toISOString();
      this.db.prepare('DELETE FROM answer_keys WHERE at < ?').run(before);
    }
  }

  /** The prediction that last answered an event under this key, if one did. */
  predictionOfKey(model: string, key: string): string | undefined {
    const r = this.db.prepare('SELECT prediction_id FROM answer_keys WHERE model = ? AND key = ?').get(model, key) as
      { prediction_id: string } | undefined;
    return r?.prediction_id;
  }

  /** The labels a prediction had before corrections replaced them, oldest first. */
  history(
    predictionId: string,
  ): { label: unknown; receivedAt: string; replacedAt: string; by: string; reason: string }[] {
    return (
      this.db
        .prepare(
          'SELECT label, received_at, replaced_at, replaced_by, reason FROM feedback_history WHERE prediction_id = ? ORDER BY replaced_at, rowid',
        )
        .all(predictionId) as {
        label: string;
        received_at: string;
        replaced_at: string;
        replaced_by: string;
        reason: string;
      }[]
    ).map((r) => ({
      label: JSON.parse(r.label) as unknown,
      receivedAt: r.received_at,
      replacedAt: r.replaced_at,
      by: r.replaced_by,
      reason: r.reason,
    }));
  }

  /** The label standing for one prediction, if any. */
  labelOf(predictionId: string): FeedbackRecord | undefined {
    const r = this.db
      .prepare('SELECT prediction_id, label, predicted_at, received_at FROM feedback WHERE prediction_id = ?')
      .get(predictionId) as
      { prediction_id: string; label: string; predicted_at: string; received_at: string } | undefined;
    return r
      ? {
          predictionId: r.prediction_id,
          label: JSON.parse(r.label) as unknown,
          predictedAt: r.predicted_at,
          receivedAt: r.received_at,
        }
      : undefined;
  }

  /** Labels of predictions made in [from, to) (ISO), for the monitor. */
  between(from: string, to: string): FeedbackRecord[] {
    return (
      this.db
        .prepare(
          'SELECT prediction_id, label, predicted_at, received_at FROM feedback WHERE predicted_at >= ? AND predicted_at < ? ORDER BY prediction_id',
        )
        .all(from, to) as { prediction_id: string; label: string; predicted_at: string; received_at: string }[]
    ).map((r) => ({
      predictionId: r.prediction_id,
      label: JSON.parse(r.label) as unknown,
      predictedAt: r.predicted_at,
      receivedAt: r.received_at,
    }));
  }

  close(): void {
    this.db.close();
  }
}

/** Why an item of feedback is not {predictionId, label} with a prediction id, or null when it is. */
function itemProblem(item: unknown): string | null {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) {
    return `an item must be {"predictionId": …, "label": …}, not ${Array.isArray(item) ? 'an array' : JSON.stringify(item)}`;
  }
  const id = (item as { predictionId?: unknown }).predictionId;
  if (id === undefined) {
    const fields = Object.keys(item).slice(0, 5);
    return `no "predictionId" (the item's fields: ${fields.length ? fields.join(', ') : 'none'})`;
  }
  if (typeof id !== 'string' || !PREDICTION_ID.test(id)) {
    return `predictionId ${JSON.stringify(id).slice(0, 60)} is not a prediction id from a response (26 characters)`;
  }
  const { correct, reason } = item as { correct?: unknown; reason?: unknown };
  if (correct !== undefined && typeof correct !== 'boolean') {
    return `"correct" is true or false, not ${JSON.stringify(correct).slice(0, 30)}`;
  }
  if (correct && (typeof reason !== 'string' || reason.trim() === '')) {
    return `a correction (of ${id}) needs a "reason": it is audited`;
  }
  if (reason !== undefined && (typeof reason !== 'string' || reason.length > 500)) {
    return '"reason" is text of at most 500 characters';
  }
  return null;
}

/**
 * How the labels of one served version are judged: its spec's label rule and, for classes it learned rather than
 * declared, the classes in its artifact's preprocessor. Read once per version.
 */
export class LabelContracts {
  private readonly known = new Map<string, Promise<LabelContract>>();

  constructor(
    private readonly registry: Registry,
    private readonly store: ArtifactStore,
  ) {}

  of(model: string, version: number): Promise<LabelContract> {
    const key = `${model}@${version}`;
    let contract = this.known.get(key);
    if (!contract) {
      contract = this.read(model, version);
      this.known.set(key, contract);
      contract.catch(() => this.known.delete(key)); // a failed read is tried again next time
    }
    return contract;
  }

  private async read(model: string, version: number): Promise<LabelContract> {
    const record = await this.registry.getVersion(model, version);
    if (!record) throw new Error(`${model} v${version} answered a prediction but is not in the registry`);
    let classes: string[] | null = null;
    if (record.spec.label.kind === 'classes' && !record.spec.label.classes) {
      const dir = await this.store.verify(record.artifact);
      const pre = JSON.parse(fs.readFileSync(path.join(dir, 'preprocessor.json'), 'utf8')) as {
        label: { classes?: string[] };
      };
      classes = pre.label.classes ?? null;
    }
    let seen: string[] | null = null;
    if (record.spec.label.kind === 'oneOf') {
      // the values of the label column in the training batch's profile, when it lists them all
      const profile = Profile.parse(await readJsonArtifact(this.store, record.lineage.validation.profile));
      const column = profile.columns.find((c) => c.name === record.spec.label.column);
      if (column?.kind === 'categorical' && Object.keys(column.values).length === column.distinct) {
        seen = Object.keys(column.values);
      }
    }
    return labelContract(record.spec, classes, seen);
  }
}

/**
 * What the service knows of the prediction ids in a feedback request: the logged answer of each (after this
 * process's own write-ahead reaches the log), with the rule its label is judged by. Items that are not even shaped
 * as feedback are left to FeedbackStore.record to name.
 */
export async function answeredPredictions(
  logRoot: string,
  items: unknown[],
  contracts: LabelContracts,
): Promise<(predictionId: string) => AnsweredPrediction | undefined> {
  const ids = [
    ...new Set(
      items.flatMap((item) => {
        const id = (item as { predictionId?: unknown } | null)?.predictionId;
        return typeof id === 'string' && PREDICTION_ID.test(id) ? [id] : [];
      }),
    ),
  ];
  const logged = await findLogged(logRoot, ids, predictionTime);
  const answered = new Map<string, AnsweredPrediction>();
  for (const [id, p] of logged) {
    if (p.arm === 'refused') {
      answered.set(id, {
        ...p,
        labelProblem: () => 'the request was refused (it broke the contract): there is no prediction to label',
      });
      continue;
    }
    const contract = await contracts.of(p.model, p.version);
    answered.set(id, { ...p, labelProblem: (label) => labelProblem(contract, label) });
  }
  return (id) => answered.get(id);
}
