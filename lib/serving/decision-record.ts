import type { ArtifactStore } from '../artifacts';
import { versionBackground, type Background } from '../explain/background';
import { explainRow, type Explanation } from '../explain/explain';
import { featureCodes, type Preprocessor } from '../features';
import type { GateVerdict } from '../gate';
import type { ApprovalRecord, ModelVersion, Registry } from '../registry/types';
import type { FeedbackRecord, FeedbackStore } from './feedback';
import { PREDICTION_ID, predictionTime } from './ids';
import { readLogged, type LoggedRecord } from './log-segments';
import { ServedVersion } from './version';

/**
 * Everything known about one prediction, from its id: what came in and went out, which version answered and how
 * that version came to be (its data and their validation, its spec and code, its gate and who approved it), which
 * version was champion then, the label that came back, and why the version said what it said — its attribution,
 * computed on demand by that exact version, loaded from its verified artifact even when it no longer serves.
 */
export interface DecisionRecord {
  id: string;
  at: string;
  model: string;
  version: number;
  /** champion, canary, or refused (the request broke the contract: no prediction was made) */
  arm: string;
  latencyMs: number;
  /** the row as received */
  input: unknown;
  output: unknown;
  flags: LoggedRecord['flags'];
  /** the OpenTelemetry trace of the request that asked (null: it was not traced) */
  traceId: string | null;
  /** the champion when it was answered (a canary's answer was not the champion's) */
  championThen: number | null;
  /** a shadow's answer to the same request */
  shadow: { version: number; output: unknown } | null;
  made: {
    artifact: { uri: string; sha256: string };
    specHash: string;
    codeVersion: string;
    seed: number;
    backend: string;
    trainedAt: string;
    workflowId: string;
    runId: string;
    /** the batch as ingested, and what was trained on (its good rows, when some were set aside) */
    sourceDataset: string;
    trainingDataset: string;
    contractHash: string;
    validation: { outcome: string; decision: string; decidedBy: string | null; reason: string | null };
    policy: { version: number; sha256: string } | null;
    gate: Pick<GateVerdict, 'passed' | 'reason' | 'checks'> | null;
    approvals: Pick<ApprovalRecord, 'status' | 'decidedBy' | 'comment' | 'decidedAt'>[];
  } | null;
  feedback: Pick<FeedbackRecord, 'label' | 'receivedAt'> | null;
  attribution: (Explanation & { background: Pick<Background, 'dataset' | 'rows' | 'seed'> }) | { unavailable: string };
}

export interface DecisionSources {
  store: ArtifactStore;
  registry: Registry;
  /** the prediction log's folder */
  logRoot: string;
  feedback?: FeedbackStore | null;
  /** a loaded version to explain with (default: loaded here from its artifact, and freed after) */
  loadVersion?: (record: ModelVersion) => Promise<{ served: ServedVersion; release: () => void }>;
  /** a version's background (default: drawn here from its training dataset) */
  background?: (record: ModelVersion, pre: Preprocessor) => Promise<Background>;
  /** run the attribution's work in its turn (a server: around its predictions; default: now) */
  turn?: <T>(work: () => T) => Promise<T>;
}

/** The decision record of one prediction id; undefined when the log has no record of it. */
export async function decisionRecord(
  sources: DecisionSources,
  id: string,
  options: { attribution?: boolean } = {},
): Promise<DecisionRecord | undefined> {
  if (!PREDICTION_ID.test(id)) throw new Error(`"${id.slice(0, 80)}" is not a prediction id`);
  const logged = await readLogged(sources.logRoot, id, predictionTime(id));
  const answer = logged.find((r) => r.arm !== 'shadow');
  if (!answer) return undefined;
  const shadow = logged.find((r) => r.arm === 'shadow');
  const { registry } = sources;
  const record = await registry.getVersion(answer.model, answer.version);
  const label = sources.feedback?.labelOf(id);
  return {
    id,
    at: answer.at,
    model: answer.model,
    version: answer.version,
    arm: answer.arm,
    latencyMs: answer.latencyMs,
    input: answer.input,
    output: answer.output,
    flags: answer.flags,
    traceId: answer.traceId,
    championThen: await registry.aliasAt(answer.model, 'champion', answer.at),
    shadow: shadow ? { version: shadow.version, output: shadow.output } : null,
    made: record ? await madeOf(registry, record) : null,
    feedback: label ? { label: label.label, receivedAt: label.receivedAt } : null,
    attribution:
      options.attribution === false ? { unavailable: 'not asked for' } : await attributionOf(sources, record, answer),
  };
}

async function madeOf(registry: Registry, v: ModelVersion): Promise<NonNullable<DecisionRecord['made']>> {
  const verdict = (v.evaluation as { verdict?: GateVerdict } | undefined)?.verdict;
  const validation = v.lineage.validation;
  const approvals = await registry.listApprovals({ model: v.model, version: v.version });
  return {
    artifact: { uri: v.artifact.uri, sha256: v.artifact.sha256 },
    specHash: v.specHash,
    codeVersion: v.codeVersion,
    seed: v.seed,
    backend: v.backend,
    trainedAt: v.createdAt,
    workflowId: v.workflowId,
    runId: v.runId,
    sourceDataset: v.lineage.sourceDataset,
    trainingDataset: v.datasetSha256,
    contractHash: v.lineage.contractHash,
    validation: {
      outcome: validation.outcome,
      decision: validation.decision,
      decidedBy: validation.decidedBy,
      reason: validation.reason,
    },
    policy: v.lineage.policy ?? null,
    gate: verdict ? { passed: verdict.passed, reason: verdict.reason, checks: verdict.checks } : null,
    approvals: approvals.map((a) => ({
      status: a.status,
      decidedBy: a.decidedBy,
      comment: a.comment,
      decidedAt: a.decidedAt,
    })),
  };
}

/** The answer explained by the version that gave it; why not, when it cannot be. */
async function attributionOf(
  sources: DecisionSources,
  record: ModelVersion | undefined,
  answer: LoggedRecord,
): Promise<DecisionRecord['attribution']> {
  if (answer.arm === 'refused') return { unavailable: 'the request broke the contract: there is no prediction' };
  if (!record) return { unavailable: `${answer.model} v${answer.version} is not registered` };
  let loaded: { served: ServedVersion; release: () => void };
  try {
    loaded = await (sources.loadVersion ?? loadFresh(sources.store))(record);
  } catch (err) {
    return { unavailable: `${record.model} v${record.version} cannot be loaded: ${(err as Error).message}` };
  }
  try {
    const { served } = loaded;
    const read = served.rows.read([answer.input]);
    if (read.problems.length) {
      return { unavailable: `the logged input breaks the version's contract: ${read.problems[0].reason}` };
    }
    const { table } = served.rows.layout(read.rows);
    const pre = served.preprocessor;
    const codes = featureCodes(pre, table, Uint32Array.of(0));
    let background: Background;
    try {
      background = await (sources.background ?? drawHere(sources))(record, pre);
    } catch (err) {
      return { unavailable: `the rows v${record.version} was trained on cannot be read: ${(err as Error).message}` };
    }
    const explain = () =>
      explainRow(
        pre,
        (x, n) => served.forwardEncoded(x, n),
        background,
        Float64Array.from(codes, (c) => c[0]),
        record.seed,
      );
    const explanation = await (sources.turn ? sources.turn(explain) : explain());
    const { dataset: from, rows, seed } = background;
    return { ...explanation, background: { dataset: from, rows, seed } };
  } finally {
    loaded.release();
  }
}

function drawHere(sources: DecisionSources): (record: ModelVersion, pre: Preprocessor) => Promise<Background> {
  return async (record, pre) => {
    const dataset = await sources.registry.getDataset(record.datasetSha256);
    if (!dataset) throw new Error(`dataset ${record.datasetSha256.slice(0, 12)} is not registered`);
    return versionBackground(sources.store, record.spec, pre, dataset, record.seed);
  };
}

function loadFresh(
  store: ArtifactStore,
): (record: ModelVersion) => Promise<{ served: ServedVersion; release: () => void }> {
  return async (record) => {
    const served = await ServedVersion.load(store, record);
    return { served, release: () => served.dispose() };
  };
}
