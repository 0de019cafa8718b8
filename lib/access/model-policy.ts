import { durationMs } from '../duration';
import { GatePolicy } from '../gate-policy';
import { DEFAULT_MONITOR_POLICY, MonitorPolicy, parseMonitorPolicy } from '../monitor/policy';
import { hashJson } from '../hash';
import type { ModelSpec } from '../spec';
import { canonical } from './statement';

/**
 * A model's governing policy: the gate a candidate must pass (absolute and relative checks, slices, when a person
 * must approve and how many, four eyes) and what its monitor watches and does. It is registered with the model,
 * versioned, changed by an admin's decision (`lumen policy set`, signed when access control is on), and binds every
 * run whatever started it:
 * a run's spec may repeat it or tighten it, never loosen it. How traffic is split is registered apart (the serving
 * policy, `lumen serving set`), also as a signed decision.
 */
export interface ModelPolicy {
  gate: GatePolicy;
  /** null: the monitor's defaults */
  monitor: MonitorPolicy | null;
}

/** A registered version of a model's policy. */
export interface RegisteredModelPolicy {
  model: string;
  version: number;
  policy: ModelPolicy;
  /** sha-256 of the policy's canonical JSON: what lineage records */
  sha256: string;
  setBy: string;
  /** how the setter proved who they are: signed, claimed (access control off), or system (registered by a run) */
  proof: 'signed' | 'claimed' | 'system';
  reason: string;
  at: string;
}

export function policyOfSpec(spec: Pick<ModelSpec, 'gate' | 'monitor'>): ModelPolicy {
  return { gate: spec.gate, monitor: spec.monitor ?? null };
}

/**
 * A spec taken from a version on record (the champion's, for a schedule, an inbox or a retrain that names none) with
 * the model's registered gate and monitor put in: the policy may have been tightened since that version was
 * trained, and such a run must be held to it, not refused for repeating the old one.
 */
export async function withRegisteredPolicy(
  /** the registry (its model policies; named by shape, since the registry's types name this module's) */
  registry: { modelPolicy(model: string): Promise<RegisteredModelPolicy | null> },
  spec: ModelSpec,
): Promise<ModelSpec> {
  const registered = await registry.modelPolicy(spec.name);
  if (!registered) return spec;
  const { monitor: _old, ...rest } = spec;
  return {
    ...rest,
    gate: registered.policy.gate,
    ...(registered.policy.monitor ? { monitor: registered.policy.monitor } : {}),
  };
}

export function policySha256(policy: ModelPolicy): string {
  return hashJson(policy);
}

/**
 * A policy as given by a person (a file holding { gate, monitor } or a whole model spec): parsed with the same
 * schemas as a spec's sections, so defaults are filled in the same way. Problems are listed with their paths.
 */
export function parseModelPolicy(value: unknown): { policy: ModelPolicy } | { problems: string[] } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { problems: ['(top): a policy is an object with "gate" and optionally "monitor"'] };
  }
  const v = value as Record<string, unknown>;
  const extra = Object.keys(v).filter((k) => k !== 'gate' && k !== 'monitor');
  if (extra.length)
    return { problems: [`(top): unknown field(s) ${extra.join(', ')} (a policy has gate and monitor)`] };
  // stated in full: a missing gate would quietly be the loosest one (promote on the first run, no approval)
  if (v.gate === undefined || v.gate === null) return { problems: ['gate: missing (a policy states its gate)'] };
  const gate = GatePolicy.safeParse(v.gate);
  const problems = gate.success ? [] : gate.error.issues.map((i) => `gate.${i.path.join('.')}: ${i.message}`);
  let monitor: MonitorPolicy | null = null;
  if (v.monitor !== undefined && v.monitor !== null) {
    const parsed = parseMonitorPolicy(v.monitor);
    if ('problems' in parsed) problems.push(...parsed.problems.map((p) => `monitor: ${p}`));
    else monitor = parsed.policy;
  }
  if (problems.length || !gate.success) return { problems };
  return { policy: { gate: gate.data, monitor } };
}

const FIRST_RUN = ['promote', 'requireApproval', 'reject'] as const;
const APPROVAL = ['never', 'firstRun', 'always'] as const;
/**
 * Where `proposed` is weaker than `registered`, one line each, naming the field and both values; empty when the
 * proposal repeats or tightens every part. The order of strictness per field:
 *  - beatBaseline, distinctFromStarter: true is stricter;
 *  - thresholds, vsChampion.maxDegradation, slices.maxGap: every registered bound must be there, no looser
 *    (a higher min, a lower max); more bounds are stricter;
 *  - vsChampion.minAbsoluteChange/minRelativeChange, approval.approvers, slices.top: higher is stricter;
 *  - slices.columns: a superset is stricter; slices.minRows: lower judges more slices, so is stricter;
 *  - firstRun: promote < requireApproval < reject; approval.required: never < firstRun < always;
 *  - approval.timeout: shorter is stricter (an expired request is a rejection);
 *  - vsChampion.metric and the monitor section have no order: they must be the same (when the spec gives a monitor).
 * Bootstrap settings shape the reported intervals, not the verdict, and are not compared.
 */
export function weakenings(
  registered: ModelPolicy,
  proposed: ModelPolicy,
  /** the task's primary metric: what an unset vsChampion.metric means (the same metric named is no change) */
  primary?: string,
): string[] {
  const out: string[] = [];
  const r = registered.gate;
  const p = proposed.gate;
  const weaker = (field: string, was: unknown, is: unknown) =>
    out.push(`gate.${field}: ${show(is)} where the registered policy has ${show(was)}`);

  if (r.beatBaseline && !p.beatBaseline) weaker('beatBaseline', true, false);
  for (const [metric, bounds] of Object.entries(r.thresholds)) {
    const mine = p.thresholds[metric];
    if (bounds.min !== undefined && !(mine?.min !== undefined && mine.min >= bounds.min)) {
      weaker(`thresholds.${metric}.min`, bounds.min, mine?.min ?? '(none)');
    }
    if (bounds.max !== undefined && !(mine?.max !== undefined && mine.max <= bounds.max)) {
      weaker(`thresholds.${metric}.max`, bounds.max, mine?.max ?? '(none)');
    }
  }
  const rv = r.vsChampion;
  const pv = p.vsChampion;
  const metric = (m: string | undefined): string => m ?? primary ?? '(the primary metric)';
  if (metric(rv.metric) !== metric(pv.metric)) {
    out.push(
      `gate.vsChampion.metric: ${metric(pv.metric)} where the registered policy has ${metric(rv.metric)} (a different metric is a change of policy)`,
    );
  }
  if (pv.minAbsoluteChange < rv.minAbsoluteChange) {
    weaker('vsChampion.minAbsoluteChange', rv.minAbsoluteChange, pv.minAbsoluteChange);
  }
  if (pv.minRelativeChange < rv.minRelativeChange) {
    weaker('vsChampion.minRelativeChange', rv.minRelativeChange, pv.minRelativeChange);
  }
  for (const [metric, most] of Object.entries(rv.maxDegradation)) {
    const mine = pv.maxDegradation[metric];
    if (mine === undefined || mine > most) weaker(`vsChampion.maxDegradation.${metric}`, most, mine ?? '(none)');
  }
  const missing = r.slices.columns.filter((c) => !p.slices.columns.includes(c));
  if (missing.length) weaker('slices.columns', r.slices.columns, p.slices.columns);
  if (p.slices.minRows > r.slices.minRows) weaker('slices.minRows', r.slices.minRows, p.slices.minRows);
  if (p.slices.top < r.slices.top) weaker('slices.top', r.slices.top, p.slices.top);
  for (const [gap, most] of Object.entries(r.slices.maxGap)) {
    if (most === undefined) continue;
    const mine = p.slices.maxGap[gap as keyof typeof p.slices.maxGap];
    if (mine === undefined || mine > most) weaker(`slices.maxGap.${gap}`, most, mine ?? '(none)');
  }
  if (FIRST_RUN.indexOf(p.firstRun) < FIRST_RUN.indexOf(r.firstRun)) weaker('firstRun', r.firstRun, p.firstRun);
  const ra = r.approval;
  const pa = p.approval;
  if (APPROVAL.indexOf(pa.required) < APPROVAL.indexOf(ra.required)) {
    weaker('approval.required', ra.required, pa.required);
  }
  if (!(durationMs(pa.timeout) <= durationMs(ra.timeout))) weaker('approval.timeout', ra.timeout, pa.timeout);
  if ((pa.approvers ?? 1) < (ra.approvers ?? 1)) weaker('approval.approvers', ra.approvers ?? 1, pa.approvers ?? 1);
  if (ra.distinctFromStarter && !pa.distinctFromStarter) weaker('approval.distinctFromStarter', true, false);

  if (proposed.monitor) {
    const mine = flatten(proposed.monitor);
    const theirs = flatten(registered.monitor ?? DEFAULT_MONITOR_POLICY);
    for (const key of [...new Set([...Object.keys(theirs), ...Object.keys(mine)])].sort()) {
      if (canonical(mine[key]) !== canonical(theirs[key])) {
        out.push(`monitor.${key}: ${show(mine[key])} where the registered policy has ${show(theirs[key])}`);
      }
    }
  }
  return out;
}

/** Leaf values by dotted path (arrays are leaves). */
function flatten(value: unknown, prefix = '', into: Record<string, unknown> = {}): Record<string, unknown> {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, into);
  } else into[prefix] = value;
  return into;
}

function show(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}
