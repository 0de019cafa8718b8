import type { Sql, SqlDatabase } from './sql';
import type { AuditEvent, NewAuditEvent } from './types';

export const now = (): string => new Date().toISOString();

/**
 * The root of the SQL registry: one connection (SQLite or PostgreSQL) that every part of the registry shares, and
 * the audit row that a change in any part writes inside its own transaction. The parts stack on it, one concern
 * each — datasets and validations, versions with their aliases and approvals, governance, operations — so that a
 * transaction can span them through the `q` it passes along.
 */
export class SqlStore {
  constructor(protected readonly sql: SqlDatabase) {}

  /** One audit row, inside the caller's transaction when there is one. */
  protected async audit(
    q: Sql,
    e: Omit<NewAuditEvent, 'proof' | 'keyId'> & Partial<Pick<NewAuditEvent, 'proof' | 'keyId'>>,
  ): Promise<AuditEvent> {
    const at = e.at ?? now();
    const { id } = (await q.get<{ id: number }>(
      `INSERT INTO audit_events (at, model, action, subject_json, identity, proof, key_id, outcome, detail, workflow_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
      [
        at,
        e.model,
        e.action,
        JSON.stringify(e.subject),
        e.identity,
        e.proof ?? 'system',
        e.keyId ?? null,
        e.outcome,
        e.detail,
        e.workflowId,
      ],
    ))!;
    return { ...e, id: Number(id), at, proof: e.proof ?? 'system', keyId: e.keyId ?? null };
  }

  close(): void {
    this.sql.close();
  }
}
