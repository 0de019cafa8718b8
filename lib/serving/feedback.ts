import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { PREDICTION_ID, predictionTime } from './ids';

/**
 * True labels for served predictions, arriving late and in batches. Keyed by prediction id: the first label for a
 * prediction stands; the same label sent again is a no-op, a different one is a conflict and is refused (a label
 * that changes silently would rewrite the monitor's history).
 */
export interface FeedbackItem {
  predictionId: string;
  label: unknown;
}

export interface FeedbackOutcome {
  accepted: number;
  duplicates: number;
  conflicts: { predictionId: string; recorded: unknown; sent: unknown }[];
  invalid: { index: number; reason: string }[];
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
    )`);
  }

  record(items: unknown[]): FeedbackOutcome {
    const outcome: FeedbackOutcome = { accepted: 0, duplicates: 0, conflicts: [], invalid: [] };
    const now = new Date().toISOString();
    const insert = this.db.prepare(
      'INSERT INTO feedback (prediction_id, label, predicted_at, received_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
    );
    const existing = this.db.prepare('SELECT label FROM feedback WHERE prediction_id = ?');
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
          const label = JSON.stringify(i.label);
          const predictedAt = new Date(predictionTime(i.predictionId)).toISOString();
          if (insert.run(i.predictionId, label, predictedAt, now).changes === 1) {
            outcome.accepted++;
            return;
          }
          const recorded = (existing.get(i.predictionId) as { label: string }).label;
          if (recorded === label) outcome.duplicates++;
          else outcome.conflicts.push({ predictionId: i.predictionId, recorded: JSON.parse(recorded), sent: i.label });
        });
      })
      .immediate();
    return outcome;
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
  return null;
}
