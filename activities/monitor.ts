import type { HealthReport } from '../lib/monitor/report';
import { kafkaFailure } from '../lib/stream/clients';
import { kafkaConnection } from '../lib/stream/connection';
import { scoringLag } from '../lib/stream/lag';
import path from 'node:path';
import { log } from '@temporalio/activity';
import { checkHealth } from '../lib/monitor/health';
import type { ReportSummary } from '../lib/monitor/report';
import { DEFAULT_MONITOR_POLICY, parseMonitorPolicy, type MonitorPolicy } from '../lib/monitor/policy';
import { buildRetrainBatch, type RetrainBatch } from '../lib/monitor/retrain';
import type { MonitorActionRecord } from '../lib/registry/types';
import { raiseAlert } from '../lib/alerts';
import { asActivity, type ActivityDeps } from './context';

/** Where a worker finds what the serving instances wrote: the prediction log and the feedback labels. */
export function monitorPaths(deps: ActivityDeps): { home: string; predictions: string; feedback: string } {
  const home = deps.store.home;
  const predictions = path.join(home, 'predictions');
  return { home, predictions, feedback: path.join(predictions, 'feedback.sqlite') };
}

export interface MonitorContext {
  champion: number | null;
  /** the champion's spec's monitor section with defaults (defaults alone when there is no champion) */
  policy: MonitorPolicy;
}

export interface MonitorCheckInput {
  model: string;
  from: string;
  to: string;
  policy: MonitorPolicy;
  previousUnusualRates: number[];
  workflowId: string;
}

export function monitorActivities(deps: ActivityDeps) {
  return {
    async monitorContext(input: { model: string }): Promise<MonitorContext> {
      const champion = await deps.registry.alias(input.model, 'champion');
      const record = champion === null ? undefined : await deps.registry.getVersion(input.model, champion);
      // the registered policy governs; a model from before registered policies has its champion's spec
      const registered = await deps.registry.modelPolicy(input.model);
      const parsed = parseMonitorPolicy(registered ? (registered.policy.monitor ?? {}) : (record?.spec.monitor ?? {}));
      if ('problems' in parsed) {
        // a spec is validated when it is loaded; a stored one that no longer parses is reported, not guessed at
        log.warn('the champion spec monitor section does not parse; defaults apply', { problems: parsed.problems });
        return { champion, policy: DEFAULT_MONITOR_POLICY };
      }
      return { champion, policy: parsed.policy };
    },

    /** One health check: measured, judged against the policy, stored (artifact + registry row), summarised. */
    async monitorCheck(input: MonitorCheckInput): Promise<ReportSummary> {
      return asActivity(async () => {
        const report = await checkHealth(deps.registry, deps.store, monitorPaths(deps), input);
        const streams = (report.streams = await streamLagOf(input.model));
        const artifact = await deps.store.putJson('monitor-reports', report);
        const summary: Omit<ReportSummary, 'id' | 'report'> = {
          at: report.at,
          from: report.from,
          to: report.to,
          champion: report.champion,
          predictions: report.predictions.total,
          labelled: report.feedback.labelled,
          unusualRate: report.unusual.rate,
          refusedRate: report.refused.rate,
          driftedShare: report.inputDrift.measured ? report.inputDrift.driftedShare : null,
          championError: report.feedback.champion?.error.n ? report.feedback.champion.error.value : null,
          p99: report.latency.p99,
          streamLag: streams.measured && streams.lag.length ? streams.lag.reduce((n, l) => n + l.lag, 0) : null,
          findings: report.findings,
        };
        const stored = await deps.registry.recordMonitorReport({
          model: input.model,
          champion: report.champion,
          from: input.from,
          to: input.to,
          at: report.at,
          report: artifact,
          summary: { ...summary, seconds: report.seconds, workflowId: input.workflowId },
        });
        // counted once: an attempt that finds the check recorded already (a retry) finds another attempt's report
        if (stored.report.sha256 === artifact.sha256) deps.metrics?.monitorChecked(input.model, report.findings);
        return {
          ...(stored.summary as unknown as Omit<ReportSummary, 'id' | 'report'>),
          id: stored.id,
          report: stored.report,
        };
      });
    },

    /** The training batch of a retrain (written once per content); the workflow starts the pipeline on it. */
    async prepareRetrain(input: { model: string }): Promise<RetrainBatch> {
      return asActivity(() => buildRetrainBatch(deps.store, deps.registry, monitorPaths(deps), input.model));
    },

    /**
     * Every model with a champion has a running monitor: one that is missing (never started because a promotion's
     * telling was lost, terminated by hand, failed) is started again, and a critical alert says so and since when
     * nothing watched the model. Idempotent: a monitor started meanwhile by anyone is left as it is.
     */
    async reconcileMonitors(): Promise<{ models: number; restarted: string[] }> {
      return asActivity(async () => {
        const temporal = deps.temporal;
        if (!temporal) throw new Error('reconcileMonitors needs a connection to Temporal (a worker provides one)');
        const restarted: string[] = [];
        const models = (await deps.registry.listModels()).filter((m) => m.champion !== null);
        for (const { model, champion } of models) {
          if (await temporal.monitorRunning(model)) continue;
          const at = new Date().toISOString();
          await temporal.championMoved(model, {
            eventId: `reconcile:${model}:${at}`,
            version: champion!,
            previous: null,
            kind: 'promote',
            by: 'lumen (monitor reconciliation)',
            at,
          });
          restarted.push(model);
          const lastReport = (await deps.registry.listMonitorReports(model, { limit: 1 }))[0];
          await raiseAlert(deps.registry, {
            model,
            severity: 'critical',
            kind: 'monitor-missing',
            message:
              `${model} has champion v${champion} but no monitor was running; one is started now. ` +
              (lastReport
                ? `Nothing checked its traffic since ${lastReport.at} (the last report).`
                : 'No check of its traffic was ever recorded.'),
            details: { champion },
            workflowId: null,
            runId: null,
            key: `monitor-missing:${model}:${at}`,
          });
        }
        return { models: models.length, restarted };
      });
    },

    async recordMonitorAction(action: Omit<MonitorActionRecord, 'id' | 'at'>): Promise<MonitorActionRecord> {
      const { record, created } = await deps.registry.recordMonitorAction(action);
      // a retried recording finds the first one made: it was counted then
      if (created) deps.metrics?.monitorAction(action.model, action.kind, action.trigger);
      return record;
    },
  };
}

/** The lag of the model's stream scorers, when Kafka is configured here; Kafka away is said, never a failed check. */
async function streamLagOf(model: string): Promise<NonNullable<HealthReport['streams']>> {
  let connection;
  try {
    connection = kafkaConnection();
  } catch {
    return { measured: false, note: 'no Kafka configured for this worker (LUMEN_KAFKA_BROKERS)', lag: [] };
  }
  try {
    return { measured: true, lag: await scoringLag(connection, model) };
  } catch (err) {
    return {
      measured: false,
      note: `Kafka at ${connection.brokers.join(',')} did not answer: ${kafkaFailure(err)}`,
      lag: [],
    };
  }
}
