/**
 * The monitor's memory and its rules, as plain data and pure functions: deterministic, so they run inside the
 * workflow sandbox, replay identically, and are unit-tested without a server. The health-check activity says what
 * it measured and which findings cross the policy; this decides whether anything happens now.
 *
 *   - hysteresis: a finding must hold `breaches` checks in a row before its incident opens (and its action runs),
 *     and be absent `clearAfter` checks in a row before the incident closes;
 *   - cooldown: after a retrain, a rollback, or an alert of one kind, the same action waits `cooldownMinutes`;
 *   - a rollback rests on intervals that do not overlap (the statistics are its hysteresis), so it may act on the
 *     first check that shows it.
 */
import type { DecisionProof } from '../lib/access/statement';
import type { Finding, FindingKind, ReportSummary } from '../lib/monitor/report';
import type { MonitorPolicy } from '../lib/monitor/policy';
import type { DroppedMessages } from './messages';

export const FINDING_KINDS: FindingKind[] = [
  'input-drift',
  'prediction-drift',
  'decay',
  'worse-than-previous',
  'latency',
  'unusual-inputs',
  'refused-rows',
  'fairness',
];

/** Findings about one version's behaviour: forgotten when the champion changes. */
const VERSION_BOUND: FindingKind[] = ['decay', 'worse-than-previous', 'prediction-drift'];

export interface Incident {
  kind: FindingKind;
  open: boolean;
  /** consecutive checks with the finding */
  breaches: number;
  /** consecutive checks without it */
  clean: number;
  openedAt: string | null;
  /** the latest evidence */
  summary: string | null;
}

export interface PlannedAction {
  kind: 'alert' | 'retrain' | 'rollback';
  finding: FindingKind;
  severity: Finding['severity'];
  reason: string;
  /** the incident opened with this check (an alert says so) */
  opened: boolean;
  /** traced requests the finding is about, carried into the action's evidence (absent: none were traced) */
  traces?: Finding['traces'];
}

export interface ActionSummary {
  at: string;
  kind: 'alert' | 'retrain' | 'rollback' | 'pause' | 'resume' | 'policy' | 'check';
  trigger: 'auto' | 'manual';
  by: string;
  reason: string;
  /** e.g. the training run started, the version rolled back to, "skipped: already trained" */
  outcome: string;
}

export interface ManualRequest {
  /** pause and resume wait here too (since signed decisions): they act once their signature is checked */
  kind: 'rollback' | 'retrain' | 'check' | 'pause' | 'resume';
  by: string;
  reason: string;
  requestId: string;
  /** rollback: the version to go back to (default: the previous champion) */
  to?: number;
  proof?: DecisionProof;
}

export interface MonitorState {
  model: string;
  policy: MonitorPolicy;
  /** where the policy came from: the champion's spec, or a person's setPolicy */
  policyFrom: 'spec' | 'update';
  champion: number | null;
  paused: { by: string; reason: string; at: string } | null;
  /** the end of the last checked window (the next window starts here) */
  lastCheckTo: string | null;
  /** epoch ms of the next scheduled check */
  nextCheckAt: number;
  checks: number;
  incidents: Record<string, Incident>;
  /** action key (retrain, rollback, alert:<finding>) → when it last ran */
  lastActionAt: Record<string, string>;
  reports: ReportSummary[];
  actions: ActionSummary[];
  /** people's requests not yet acted on, in arrival order */
  pending: ManualRequest[];
  /** request ids already taken (a signal sent twice acts once), newest last */
  seen: string[];
  /** champion-change events already taken */
  seenMoves: string[];
  /** a check asked for by a person or a move, before the next scheduled one */
  checkRequested: boolean;
  /** how many times this monitor continued as new */
  generation: number;
  /** signals refused at the edge (absent in states carried from runs before they were counted) */
  dropped?: DroppedMessages;
}

export const KEEP_REPORTS = 20;
export const KEEP_ACTIONS = 50;
export const KEEP_SEEN = 500;

export function initialState(model: string, policy: MonitorPolicy, now: number): MonitorState {
  return {
    model,
    policy,
    policyFrom: 'spec',
    champion: null,
    paused: null,
    lastCheckTo: null,
    nextCheckAt: now + policy.everyMinutes * 60_000,
    checks: 0,
    incidents: {},
    lastActionAt: {},
    reports: [],
    actions: [],
    pending: [],
    seen: [],
    seenMoves: [],
    checkRequested: false,
    generation: 0,
  };
}

function incidentOf(state: MonitorState, kind: FindingKind): Incident {
  return (state.incidents[kind] ??= { kind, open: false, breaches: 0, clean: 0, openedAt: null, summary: null });
}

function actionKey(kind: PlannedAction['kind'], finding: FindingKind): string {
  return kind === 'alert' ? `alert:${finding}` : kind;
}

export function cooledDown(state: MonitorState, key: string, nowMs: number): boolean {
  const last = state.lastActionAt[key];
  return last === undefined || nowMs - Date.parse(last) >= state.policy.cooldownMinutes * 60_000;
}

/**
 * Apply one report's findings to the incidents and plan what to do now. Mutates `state` (the caller owns it).
 * At most one retrain and one rollback per check whatever the number of findings that ask for them.
 */
export function decide(state: MonitorState, findings: Finding[], nowMs: number): PlannedAction[] {
  const now = new Date(nowMs).toISOString();
  const planned: PlannedAction[] = [];
  const byKind = new Map<FindingKind, Finding>();
  for (const f of findings) if (!byKind.has(f.kind)) byKind.set(f.kind, f);
  for (const kind of FINDING_KINDS) {
    const incident = incidentOf(state, kind);
    const finding = byKind.get(kind);
    if (!finding) {
      incident.breaches = 0;
      incident.clean++;
      if (incident.open && incident.clean >= state.policy.clearAfter) {
        incident.open = false;
        incident.openedAt = null;
      }
      continue;
    }
    incident.breaches++;
    incident.clean = 0;
    incident.summary = finding.summary;
    const needed = kind === 'worse-than-previous' ? 1 : state.policy.breaches;
    if (incident.breaches < needed) continue;
    const opened = !incident.open;
    if (opened) {
      incident.open = true;
      incident.openedAt = now;
    }
    // an incident always says so when it opens; its action (if other than an alert) follows the cooldown
    const wanted: PlannedAction['kind'][] = [];
    if (finding.action === 'retrain' || finding.action === 'rollback') wanted.push(finding.action);
    if (finding.action !== 'none') wanted.push('alert');
    for (const kind2 of wanted) {
      const key = actionKey(kind2, kind);
      if (planned.some((p) => actionKey(p.kind, p.finding) === key)) continue;
      if (!cooledDown(state, key, nowMs)) continue;
      // an alert for a standing incident repeats only after the cooldown, like any action
      planned.push({
        kind: kind2,
        finding: kind,
        severity: finding.severity,
        reason: finding.summary,
        opened,
        ...(finding.traces?.length ? { traces: finding.traces } : {}),
      });
      state.lastActionAt[key] = now;
    }
  }
  // one retrain per check, whichever findings asked
  const retrains = planned.filter((p) => p.kind === 'retrain');
  return planned.filter((p) => p.kind !== 'retrain' || p === retrains[0]);
}

/** The champion moved: findings about the old one's behaviour no longer apply. */
export function championMoved(state: MonitorState, champion: number | null): void {
  if (state.champion === champion) return;
  state.champion = champion;
  for (const kind of VERSION_BOUND) delete state.incidents[kind];
}

export function remember<T>(list: T[], item: T, keep: number): void {
  list.push(item);
  if (list.length > keep) list.splice(0, list.length - keep);
}

/** Take a person's request once: false when the same request id was already taken. */
export function takeRequest(state: MonitorState, request: ManualRequest): boolean {
  if (state.seen.includes(request.requestId) || state.pending.some((p) => p.requestId === request.requestId)) {
    return false;
  }
  state.pending.push(request);
  remember(state.seen, request.requestId, KEEP_SEEN);
  return true;
}

type Plain = Record<string, unknown>;

/** The current policy with a person's changes laid over it, section by section. */
export function withChanges(current: MonitorPolicy, patch: unknown): Plain {
  const out: Plain = { ...(current as unknown as Plain) };
  if (!patch || typeof patch !== 'object') return out;
  for (const [k, v] of Object.entries(patch as Plain)) {
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && out[k] && typeof out[k] === 'object'
        ? { ...(out[k] as Plain), ...(v as Plain) }
        : v;
  }
  return out;
}

/** What the Web UI shows on the monitor's page. */
export function monitorDetails(state: MonitorState): string {
  const last = state.reports.at(-1);
  const open = Object.values(state.incidents).filter((i) => i.open);
  const lines = [
    `**${state.model}** — champion v${state.champion ?? '–'}${state.paused ? ` — **paused** by ${state.paused.by}: ${state.paused.reason}` : ''}`,
    `checks: ${state.checks}, every ${state.policy.everyMinutes} min; next at ${new Date(state.nextCheckAt).toISOString()}`,
    last
      ? `last window ${last.from} … ${last.to}: ${last.predictions} predictions, ${last.labelled} labelled` +
        (last.findings.length ? `; findings: ${last.findings.map((f) => f.kind).join(', ')}` : '; no findings')
      : 'no check yet',
    open.length ? `open incidents: ${open.map((i) => `${i.kind} since ${i.openedAt}`).join('; ')}` : 'no open incident',
    ...(state.dropped?.last
      ? [
          `**${state.dropped.total} malformed signal(s) dropped**; the latest, ${state.dropped.last.name}: ${state.dropped.last.reason}`,
        ]
      : []),
    ...state.actions.slice(-5).map((a) => `- ${a.at} ${a.kind} (${a.trigger}, ${a.by}): ${a.outcome}`),
  ];
  return lines.join('\n\n');
}
