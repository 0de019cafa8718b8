import type { ServingInstance } from '../serving/policy';
import type { AlertRecord, MonitorActionRecord, MonitorReportRecord, Registry, ScheduleRunRecord } from './types';
import {
  type MonitorActionRow,
  type MonitorReportRow,
  type ScheduleRunRow,
  toAlert,
  toMonitorAction,
  toMonitorReport,
  toScheduleRun,
} from './rows';
import { now } from './sql-store';
import { GovernanceStore } from './governance-store';

/**
 * The registry's logic, once, over a SQL database: SQLite (embedded, one host) or PostgreSQL (several hosts). Every
 * write that must be atomic (version numbering, alias moves with their history rows) is one transaction that
 * holds the database's write lock from its start. This last part holds what the running loop reports: alerts,
 * serving instances, monitor reports and actions, schedule runs.
 */
export class SqlRegistry extends GovernanceStore implements Registry {
  async recordAlert(alert: Omit<AlertRecord, 'id' | 'at'>): Promise<AlertRecord> {
    return toAlert(
      await this.sql.transaction(async (q): Promise<Record<string, string | number | null>> => {
        if (alert.key) {
          const existing = await q.get<Record<string, string | number | null>>(
            'SELECT * FROM alerts WHERE dedupe_key = ?',
            [alert.key],
          );
          if (existing) return existing;
        }
        const { id: lastInsertRowid } = (await q.get<{ id: number }>(
          `INSERT INTO alerts (model, severity, kind, message, details_json, workflow_id, run_id, dedupe_key, at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
          [
            alert.model,
            alert.severity,
            alert.kind,
            alert.message,
            JSON.stringify(alert.details),
            alert.workflowId,
            alert.runId,
            alert.key ?? null,
            now(),
          ],
        ))!;
        return (await q.get<Record<string, string | number | null>>('SELECT * FROM alerts WHERE id = ?', [
          lastInsertRowid,
        ]))!;
      }),
    );
  }

  async listAlerts(model?: string, limit = 100): Promise<AlertRecord[]> {
    const q = this.sql;
    const rows = await q.all<Record<string, string | number | null>>(
      'SELECT * FROM alerts WHERE (CAST(@model AS TEXT) IS NULL OR model = @model) ORDER BY id DESC LIMIT @limit',
      { model: model ?? null, limit },
    );
    return rows.map(toAlert);
  }

  async announceServingInstance(instance: { id: string; url: string }): Promise<void> {
    const q = this.sql;
    await q.run(
      `INSERT INTO serving_instances (id, url, last_seen) VALUES (?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET url = excluded.url, last_seen = excluded.last_seen`,
      [instance.id, instance.url, now()],
    );
  }

  async servingInstances(seenSince: string): Promise<ServingInstance[]> {
    const q = this.sql;
    return (
      await q.all<{ id: string; url: string; last_seen: string }>(
        'SELECT id, url, last_seen FROM serving_instances WHERE last_seen >= ? ORDER BY id',
        [seenSince],
      )
    ).map((r) => ({ id: r.id, url: r.url, lastSeen: r.last_seen }));
  }

  async recordMonitorReport(report: Omit<MonitorReportRecord, 'id'>): Promise<MonitorReportRecord> {
    const q = this.sql;
    await q.run(
      `INSERT INTO monitor_reports (model, champion, window_from, window_to, at, report_uri, report_sha256,
                                      report_bytes, summary_json)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (model, window_from, window_to) DO NOTHING`,
      [
        report.model,
        report.champion,
        report.from,
        report.to,
        report.at,
        report.report.uri,
        report.report.sha256,
        report.report.bytes,
        JSON.stringify(report.summary),
      ],
    );
    const row = (await q.get<MonitorReportRow>(
      'SELECT * FROM monitor_reports WHERE model = ? AND window_from = ? AND window_to = ?',
      [report.model, report.from, report.to],
    ))!;
    return toMonitorReport(row);
  }

  async listMonitorReports(
    model: string,
    filter: { since?: string; limit?: number; champion?: number } = {},
  ): Promise<MonitorReportRecord[]> {
    const q = this.sql;
    const byChampion = filter.champion === undefined ? [] : [filter.champion];
    const rows = await q.all<MonitorReportRow>(
      `SELECT * FROM (SELECT * FROM monitor_reports WHERE model = ? AND window_to > ?${byChampion.length ? ' AND champion = ?' : ''}
          ORDER BY window_to DESC LIMIT ?) AS recent
          ORDER BY window_to`,
      [model, filter.since ?? '', ...byChampion, filter.limit ?? 1000],
    );
    return rows.map(toMonitorReport);
  }

  async recordMonitorAction(
    action: Omit<MonitorActionRecord, 'id' | 'at'>,
  ): Promise<{ record: MonitorActionRecord; created: boolean }> {
    const q = this.sql;
    const inserted = await q.run(
      `INSERT INTO monitor_actions (model, kind, trigger, by, reason, evidence_json, result_json, workflow_id,
                                      dedupe_key, at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING`,
      [
        action.model,
        action.kind,
        action.trigger,
        action.by,
        action.reason,
        JSON.stringify(action.evidence),
        JSON.stringify(action.result),
        action.workflowId,
        action.key,
        now(),
      ],
    );
    if (inserted.changes > 0) {
      await this.audit(q, {
        model: action.model,
        action: `monitor-${action.kind}`,
        subject: action.evidence,
        identity: action.by,
        outcome: action.trigger === 'auto' ? 'automatic' : 'applied',
        detail: `${action.reason} → ${JSON.stringify(action.result)}`,
        workflowId: action.workflowId,
      });
    }
    const record = toMonitorAction(
      (await q.get<MonitorActionRow>('SELECT * FROM monitor_actions WHERE dedupe_key = ?', [action.key]))!,
    );
    return { record, created: inserted.changes > 0 };
  }

  async listMonitorActions(model: string, limit = 100): Promise<MonitorActionRecord[]> {
    const q = this.sql;
    const rows = await q.all<MonitorActionRow>(
      'SELECT * FROM (SELECT * FROM monitor_actions WHERE model = ? ORDER BY id DESC LIMIT ?) AS recent ORDER BY id',
      [model, limit],
    );
    return rows.map(toMonitorAction);
  }

  async recordScheduleRun(
    run: Omit<ScheduleRunRecord, 'id' | 'at'>,
  ): Promise<{ record: ScheduleRunRecord; failuresInRow: number }> {
    return await this.sql.transaction(async (q) => {
      await q.run(
        `INSERT INTO schedule_runs (schedule_id, model, workflow_id, ok, detail, at) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (schedule_id, workflow_id) DO NOTHING`,
        [run.scheduleId, run.model, run.workflowId, run.ok ? 1 : 0, run.detail, now()],
      );
      const row = (await q.get<ScheduleRunRow>(
        'SELECT * FROM schedule_runs WHERE schedule_id = ? AND workflow_id = ?',
        [run.scheduleId, run.workflowId],
      ))!;
      const lastOk = (await q.get<{ id: number | null }>(
        'SELECT max(id) AS id FROM schedule_runs WHERE schedule_id = ? AND ok = 1 AND id <= ?',
        [run.scheduleId, row.id],
      ))!;
      const { n } = (await q.get<{ n: number }>(
        'SELECT count(*) AS n FROM schedule_runs WHERE schedule_id = ? AND ok = 0 AND id > ? AND id <= ?',
        [run.scheduleId, lastOk.id ?? 0, row.id],
      ))!;
      return { record: toScheduleRun(row), failuresInRow: n };
    });
  }

  async listScheduleRuns(scheduleId: string, limit = 20): Promise<ScheduleRunRecord[]> {
    const q = this.sql;
    return (
      await q.all<ScheduleRunRow>(
        'SELECT * FROM (SELECT * FROM schedule_runs WHERE schedule_id = ? ORDER BY id DESC LIMIT ?) AS recent ORDER BY id',
        [scheduleId, limit],
      )
    ).map(toScheduleRun);
  }
}
