import type { ArtifactStore } from '../artifacts';
import { BackgroundCache, type Background } from '../explain/background';
import { MAX_YIELD_MS, PredictionTraffic, VersionExplainer, type Explained } from './explainer';

import type { ModelVersion, Registry } from '../registry/types';
import type { Preprocessor } from '../features';
import { MicroBatcher, type BatchStats, type BatcherOptions, type BatchTiming } from './batcher';
import { newPredictionId } from './ids';
import { answeredRecords, refusedRecords } from './log-records';
import { ServingPolicy, routeShare, type ServingPolicyRecord } from './policy';
import type { PredictionLog } from './prediction-log';
import type { ReadRow, RowFlag, RowProblem } from './rows';
import { ServedVersion, type Output } from './version';

/**
 * What one serving process serves: for every model with a champion, the champion — and, when the serving policy
 * says so, a canary and a shadow — each a verified, warmed-up version with its own micro-batcher. `sync` reads the
 * registry and swaps in what changed: the new version is loaded, verified and warmed first, then takes new
 * requests at once; requests already in flight finish on the old one, which is freed when the last leaves.
 *
 * A champion that cannot be trusted (bytes changed, a failed load check, a warm-up that disagrees with its
 * evaluation) is never served. The model then serves the newest earlier champion that can be — the one already
 * serving, or on a fresh start the champion history walked back — and says so: `degraded` in the state and in
 * /readyz, and a critical alert naming what is served instead (or that nothing is). When no earlier champion loads
 * either, the model is unavailable: predict answers 503 with the reason. Once the champion loads (its load check
 * changed, e.g. `lumen verify` cleared it), it serves and the refusal is forgotten.
 */

export type Arm = 'champion' | 'canary' | 'shadow';

/** The log's flags of a row with none: most rows, so one list for all of them. */

interface ArmState {
  version: ServedVersion;
  batcher: MicroBatcher<ReadRow, { output: Output; flags: RowFlag[] }>;
  /** made on the first explanation asked of this version */
  explainer?: VersionExplainer;
}

interface ModelState {
  champion: ArmState | null;
  canary: (ArmState & { share: number }) | null;
  shadow: ArmState | null;
  /** versions that failed to load: why, and the load check on record then (retried when that changes) */
  refused: Map<number, { reason: string; check: string }>;
  /** the registry's champion cannot be served: which, why, and what serves instead (null: nothing) */
  degraded: Degraded | null;
  /** refusals already reported (arm, version, reason, what serves instead) */
  told: Set<string>;
}

/** A version an arm cannot serve, and what serves in its place (the champion: an earlier champion or nothing). */
export interface Refusal {
  arm: Arm;
  version: number;
  reason: string;
  /** champion: the earlier champion serving instead (null: nothing); canary: the champion; shadow: null */
  instead: number | null;
}

export interface Degraded {
  champion: number;
  reason: string;
  /** the earlier champion serving in its place, or null: the model is unavailable here */
  serving: number | null;
}

export interface HostOptions {
  batch: BatcherOptions;
  log: PredictionLog | null;
  onBatch?: (model: string, version: number, stats: BatchStats) => void;
  /** how a version that cannot be served is reported (an alert); once per arm, version, reason and fallback */
  onRefused?: (model: string, refusal: Refusal) => Promise<void>;
}

export interface Prediction {
  id: string;
  output: Output;
  flags: RowFlag[];
}

export type ExplainResult =
  | { kind: 'unknown-model' }
  | { kind: 'unavailable'; reason: string }
  | { kind: 'invalid'; problems: RowProblem[] }
  | ({ kind: 'ok'; model: string; version: number; artifactSha256: string } & Explained);

/**
 * A traced request (lib/telemetry.ts): its trace id, kept with each of its records in the prediction log, and the
 * marks of its way through the host — checked, its batch run and done, logged — in performance.now() time, from
 * which the server makes the request's spans.
 */
export interface RequestTrace {
  traceId: string;
  marks: BatchTiming & { checked?: number; logged?: number };
}

export type PredictResult =
  | { kind: 'unknown-model' }
  | { kind: 'unavailable'; reason: string }
  | { kind: 'invalid'; problems: RowProblem[] }
  | {
      kind: 'ok';
      model: string;
      version: number;
      artifactSha256: string;
      arm: Arm;
      predictions: Prediction[];
    };

/** One row's answer in `predictEach`: its prediction, or why its version's contract refuses it. */
export type EachAnswer =
  | ({ kind: 'ok'; version: number; artifactSha256: string; arm: Arm } & Prediction)
  | { kind: 'invalid'; id: string; problems: RowProblem[] };

export type EachResult =
  { kind: 'unknown-model' } | { kind: 'unavailable'; reason: string } | { kind: 'ok'; answers: EachAnswer[] };

/** When an arm of a model started answering with a version (the last thousand, newest last). */
export interface SwapEvent {
  model: string;
  arm: Arm;
  /** null: the arm stopped */
  version: number | null;
  at: number;
}

export class ModelHost {
  private readonly models = new Map<string, ModelState>();
  /** predictions in progress: explanations wait for a moment without */
  private readonly traffic = new PredictionTraffic();
  private readonly backgrounds: BackgroundCache;
  private readonly swaps: SwapEvent[] = [];
  private syncing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: ArtifactStore,
    private readonly registry: Registry,
    private readonly options: HostOptions,
  ) {
    this.backgrounds = new BackgroundCache(store, registry);
  }

  /** Bring what is served in line with the registry; calls queue behind each other. */
  sync(): Promise<void> {
    this.syncing = this.syncing
      .then(() => this.syncOnce())
      .catch((err: unknown) => {
        console.error(`[lumen] serving: sync failed: ${(err as Error).message}`);
      });
    return this.syncing;
  }

  /**
   * Ready when every model that has a champion serves a version; `degraded` lists those serving an earlier champion
   * in place of one that cannot be trusted, `unavailable` those that serve nothing for that reason, `waiting` those
   * not loaded yet.
   */
  async readiness(): Promise<{
    ready: boolean;
    waiting: string[];
    degraded: (Degraded & { model: string })[];
    unavailable: (Degraded & { model: string })[];
  }> {
    const waiting: string[] = [];
    const degraded: (Degraded & { model: string })[] = [];
    const unavailable: (Degraded & { model: string })[] = [];
    for (const m of await this.registry.listModels()) {
      if (m.champion === null) continue;
      const state = this.models.get(m.model);
      const d = state?.degraded;
      if (d && d.champion === m.champion) (d.serving === null ? unavailable : degraded).push({ model: m.model, ...d });
      else if (!state?.champion) waiting.push(m.model);
    }
    return { ready: waiting.length === 0 && unavailable.length === 0, waiting, degraded, unavailable };
  }

  /** What each model serves now. */
  state(): Record<
    string,
    {
      champion: number | null;
      canary: { version: number; share: number } | null;
      shadow: number | null;
      refused: Record<number, string>;
      degraded: Degraded | null;
      /** rows waiting for the champion's explanations, or being explained */
      explainWaiting: number;
    }
  > {
    const out: ReturnType<ModelHost['state']> = {};
    for (const [model, s] of this.models) {
      out[model] = {
        champion: s.champion?.version.version ?? null,
        canary: s.canary ? { version: s.canary.version.version, share: s.canary.share } : null,
        shadow: s.shadow?.version.version ?? null,
        refused: Object.fromEntries([...s.refused].map(([v, r]) => [v, r.reason])),
        degraded: s.degraded,
        explainWaiting: s.champion?.explainer?.waitingRows ?? 0,
      };
    }
    return out;
  }

  /** Which version each arm answered with since when, as this process switched them. */
  swapHistory(model?: string): SwapEvent[] {
    return model ? this.swaps.filter((e) => e.model === model) : [...this.swaps];
  }

  /** A version of a model loaded here on any arm (champion, canary, shadow), if it is. */
  loaded(model: string, version: number): ServedVersion | null {
    const state = this.models.get(model);
    if (!state) return null;
    return [state.champion, state.canary, state.shadow].find((a) => a?.version.version === version)?.version ?? null;
  }

  served(model: string): ServedVersion | null {
    return this.models.get(model)?.champion?.version ?? null;
  }

  /**
   * Predict rows of raw source columns. The arm is chosen by the routing key (sticky canary); the rows are checked
   * against that version's contract, predicted in a micro-batch, logged, and mirrored to the shadow if there is one.
   */
  async predict(model: string, rows: unknown[], routingKey?: string, trace?: RequestTrace): Promise<PredictResult> {
    this.traffic.begin();
    try {
      return await this.predictNow(model, rows, routingKey, trace);
    } finally {
      this.traffic.end();
    }
  }

  private async predictNow(
    model: string,
    rows: unknown[],
    routingKey?: string,
    trace?: RequestTrace,
  ): Promise<PredictResult> {
    const state = this.models.get(model);
    if (!state?.champion) return notServed(model, state);
    const ids = rows.map(() => newPredictionId());
    const key = routingKey ?? ids[0];
    const chosen: { arm: Arm; state: ArmState } =
      state.canary && routeShare(`${model}:${key}`) < state.canary.share
        ? { arm: 'canary', state: state.canary }
        : { arm: 'champion', state: state.champion };
    const served = chosen.state.version;
    const { problems, rows: read } = served.rows.read(rows);
    if (trace) trace.marks.checked = performance.now();
    if (problems.length) {
      await this.recordRefused(model, served.version, rows, ids, problems, trace?.traceId);
      if (trace) trace.marks.logged = performance.now();
      return { kind: 'invalid', problems };
    }
    const checked = rows as Record<string, unknown>[];
    const started = performance.now();
    served.enter();
    let results: { output: Output; flags: RowFlag[] }[];
    try {
      results = await chosen.state.batcher.submit(read, trace?.marks);
    } finally {
      served.leave();
    }
    const latencyMs = performance.now() - started;
    const predictions = results.map((r, i) => ({ id: ids[i], output: r.output, flags: r.flags }));
    if (state.shadow) this.mirror(model, state.shadow, checked, ids);
    // written ahead before it is answered: an answer the process dies right after is still in the log
    await this.record(model, served.version, chosen.arm, checked, predictions, latencyMs, trace?.traceId);
    if (trace) trace.marks.logged = performance.now();
    return {
      kind: 'ok',
      model,
      version: served.version,
      artifactSha256: served.artifact.sha256,
      arm: chosen.arm,
      predictions,
    };
  }

  /**
   * Predict rows one by one, as a stream delivers them: each row routed by its own key (a canary share sticks to
   * a key, as for a request), and a row that breaks its version's contract refused alone — logged as a request's
   * refusals are — while the others are predicted, logged and mirrored to the shadow as requests are.
   */
  async predictEach(model: string, rows: unknown[], keys: (string | null)[]): Promise<EachResult> {
    this.traffic.begin();
    try {
      const state = this.models.get(model);
      if (!state?.champion) return notServed(model, state);
      const ids = rows.map(() => newPredictionId());
      const answers = new Array<EachAnswer>(rows.length);
      const arms: { arm: Arm; state: ArmState; at: number[] }[] = [{ arm: 'champion', state: state.champion, at: [] }];
      if (state.canary) arms.push({ arm: 'canary', state: state.canary, at: [] });
      rows.forEach((_, i) => {
        const canary = state.canary && routeShare(`${model}:${keys[i] ?? ids[i]}`) < state.canary.share;
        arms[canary ? 1 : 0].at.push(i);
      });
      await Promise.all(
        arms.map(async ({ arm, state: armState, at }) => {
          if (at.length === 0) return;
          const served = armState.version;
          const mine = at.map((i) => rows[i]);
          const { problems, rows: read } = served.rows.read(mine);
          const bad = new Map<number, RowProblem[]>();
          for (const p of problems) bad.set(p.row, [...(bad.get(p.row) ?? []), p]);
          if (bad.size) {
            // logged together, each problem pointing at its row among the refused ones
            const refused = [...bad.keys()];
            const position = new Map(refused.map((j, k) => [j, k]));
            await this.recordRefused(
              model,
              served.version,
              refused.map((j) => mine[j]),
              refused.map((j) => ids[at[j]]),
              problems.map((p) => ({ ...p, row: position.get(p.row)! })),
            );
            for (const [j, list] of bad) {
              answers[at[j]] = { kind: 'invalid', id: ids[at[j]], problems: list.map((p) => ({ ...p, row: 0 })) };
            }
          }
          const good = at.map((_, j) => j).filter((j) => !bad.has(j));
          if (good.length === 0) return;
          const goodRows = good.map((j) => mine[j] as Record<string, unknown>);
          const goodIds = good.map((j) => ids[at[j]]);
          const started = performance.now();
          served.enter();
          let results: { output: Output; flags: RowFlag[] }[];
          try {
            results = await armState.batcher.submit(good.map((j) => read[j]));
          } finally {
            served.leave();
          }
          const latencyMs = performance.now() - started;
          const predictions = results.map((r, k) => ({ id: goodIds[k], output: r.output, flags: r.flags }));
          if (state.shadow) this.mirror(model, state.shadow, goodRows, goodIds);
          await this.record(model, served.version, arm, goodRows, predictions, latencyMs);
          predictions.forEach((prediction, k) => {
            answers[at[good[k]]] = {
              kind: 'ok',
              ...prediction,
              version: served.version,
              artifactSha256: served.artifact.sha256,
              arm,
            };
          });
        }),
      );
      return { kind: 'ok', answers };
    } finally {
      this.traffic.end();
    }
  }

  /**
   * Explain rows by the champion: the same contract checks and flags as a prediction, the outputs, and each
   * output attributed to the spec's features (lib/explain). An explanation is not a prediction served: it gets no
   * id, is not logged and is not what the monitor watches.
   */
  async explain(model: string, rows: unknown[], abandoned?: AbortSignal): Promise<ExplainResult> {
    const state = this.models.get(model);
    if (!state?.champion) return notServed(model, state);
    const arm = state.champion;
    const served = arm.version;
    const { problems, rows: read } = served.rows.read(rows);
    if (problems.length) return { kind: 'invalid', problems };
    arm.explainer ??= new VersionExplainer(
      served,
      () => this.backgroundOf(served.record, served.preprocessor),
      this.traffic,
    );
    const explained = await arm.explainer.explain(read, abandoned);
    return { kind: 'ok', model, version: served.version, artifactSha256: served.artifact.sha256, ...explained };
  }

  /** A version's background, drawn once and kept for the last few versions asked (lib/explain/background.ts). */
  backgroundOf(record: ModelVersion, pre: Preprocessor): Promise<Background> {
    return this.backgrounds.of(record, pre);
  }

  /** Run one piece of explaining work in its turn around predictions (PredictionTraffic). */
  turn<T>(work: () => T): Promise<T> {
    return this.traffic.turn(MAX_YIELD_MS, work);
  }

  /** The shadow sees the same rows; its answers are logged, never returned, and its failures never surface. */
  private mirror(model: string, shadow: ArmState, rows: Record<string, unknown>[], ids: string[]): void {
    const version = shadow.version;
    if (version.isDisposed) return;
    // the shadow reads the rows by its own contract; a row it refuses is not mirrored
    const { problems, rows: read } = version.rows.read(rows);
    if (problems.length) return;
    const started = performance.now();
    version.enter();
    shadow.batcher
      .submit(read)
      .then((results) => {
        const predictions = results.map((r, i) => ({ id: ids[i], output: r.output, flags: r.flags }));
        // nobody waits for the shadow's answers; a failure to log them is the log's to count
        void this.record(model, version.version, 'shadow', rows, predictions, performance.now() - started);
      })
      .catch((err: unknown) => console.error(`[lumen] shadow ${model} v${version.version}: ${(err as Error).message}`))
      .finally(() => version.leave());
  }

  private record(
    model: string,
    version: number,
    arm: Arm,
    rows: Record<string, unknown>[],
    predictions: Prediction[],
    latencyMs: number,
    traceId?: string,
  ): Promise<void> {
    if (!this.options.log) return Promise.resolve();
    return this.options.log.append(answeredRecords(model, version, arm, rows, predictions, latencyMs, traceId));
  }

  /** Rows refused for breaking the contract, logged too: the monitor's error rate and what broke, per field. */
  private recordRefused(
    model: string,
    version: number,
    rows: unknown[],
    ids: string[],
    problems: RowProblem[],
    traceId?: string,
  ): Promise<void> {
    if (!this.options.log) return Promise.resolve();
    return this.options.log.append(refusedRecords(model, version, rows, ids, problems, traceId));
  }

  /** Free every loaded version (at shutdown). */
  close(): void {
    for (const s of this.models.values()) for (const arm of [s.champion, s.canary, s.shadow]) arm?.version.retire();
    this.models.clear();
  }

  private async syncOnce(): Promise<void> {
    const listed = await this.registry.listModels();
    const present = new Set<string>();
    for (const { model, champion } of listed) {
      if (champion === null) continue;
      present.add(model);
      const state =
        this.models.get(model) ??
        ({
          champion: null,
          canary: null,
          shadow: null,
          refused: new Map(),
          degraded: null,
          told: new Set(),
        } satisfies ModelState);
      this.models.set(model, state);
      const policy = await this.policyOf(model, champion);
      const champ =
        (await this.armFor(model, state, champion, state.champion)) ?? (await this.fallback(model, state, champion));
      if (champ) this.replace(state, 'champion', champ, model);
      await this.sayDegraded(model, state, champion);
      const canaryVersion = policy.canary && policy.canary.version !== champion ? policy.canary.version : null;
      if (canaryVersion === null) this.replace(state, 'canary', null, model);
      else {
        const arm = await this.armFor(model, state, canaryVersion, state.canary);
        if (!arm) await this.sayRefused(model, state, 'canary', canaryVersion, state.champion?.version.version ?? null);
        if (arm && arm !== state.canary) {
          const canary: ModelState['canary'] = Object.assign(arm, { share: policy.canary!.share });
          this.replace(state, 'canary', canary, model);
        } else if (!arm && state.canary?.version.version !== canaryVersion) this.replace(state, 'canary', null, model);
        if (state.canary) state.canary.share = policy.canary!.share;
      }
      const shadowVersion = policy.shadow && policy.shadow.version !== champion ? policy.shadow.version : null;
      if (shadowVersion === null) this.replace(state, 'shadow', null, model);
      else {
        const arm = await this.armFor(model, state, shadowVersion, state.shadow);
        if (!arm) await this.sayRefused(model, state, 'shadow', shadowVersion, null);
        if (arm) this.replace(state, 'shadow', arm, model);
        else if (state.shadow?.version.version !== shadowVersion) this.replace(state, 'shadow', null, model);
      }
    }
    for (const [model, state] of this.models) {
      if (present.has(model)) continue;
      for (const arm of ['champion', 'canary', 'shadow'] as const) this.replace(state, arm, null, model);
      this.models.delete(model);
    }
  }

  /**
   * The champion cannot be served: keep what serves now if it is an earlier champion, else load the newest earlier
   * champion that loads (a fresh start after the champion's bytes were tampered with). Null: none can be served.
   */
  private async fallback(model: string, state: ModelState, champion: number): Promise<ArmState | null> {
    if (state.champion && state.champion.version.version !== champion) return state.champion;
    const history = (await this.registry.aliasHistory(model)).filter((e) => e.alias === 'champion');
    const earlier: number[] = [];
    for (const e of history.reverse()) {
      const v = e.toVersion;
      if (v !== null && v !== champion && !earlier.includes(v)) earlier.push(v);
    }
    for (const version of earlier) {
      const arm = await this.armFor(model, state, version, null);
      if (arm) return arm;
    }
    return null;
  }

  /** What serves for a model whose champion cannot be, said once per champion and fallback (the alert). */
  private async sayDegraded(model: string, state: ModelState, champion: number): Promise<void> {
    const serving = state.champion?.version.version ?? null;
    if (serving === champion) {
      state.degraded = null;
      return;
    }
    const reason = state.refused.get(champion)?.reason;
    if (reason === undefined) return; // not tried yet
    state.degraded = { champion, reason, serving };
    await this.sayRefused(model, state, 'champion', champion, serving);
  }

  /** A version refused for an arm, reported once per arm, version, reason and what serves instead. */
  private async sayRefused(
    model: string,
    state: ModelState,
    arm: Arm,
    version: number,
    instead: number | null,
  ): Promise<void> {
    const reason = state.refused.get(version)?.reason;
    if (reason === undefined) return;
    const key = `${arm}|${version}|${instead}|${reason}`;
    if (state.told.has(key)) return;
    state.told.add(key);
    await this.options.onRefused?.(model, { arm, version, reason, instead });
  }

  /** The registry's policy for a model, or its champion's spec's, or champion only. */
  private async policyOf(model: string, champion: number): Promise<ServingPolicy> {
    const stored: ServingPolicyRecord | null = await this.registry.servingPolicy(model);
    if (stored) return ServingPolicy.parse(stored.policy);
    const record = await this.registry.getVersion(model, champion);
    return ServingPolicy.parse(record?.spec.serving ?? {});
  }

  /**
   * The arm for a version: the current one if it already serves that version, a newly loaded one otherwise, or null
   * when it cannot be loaded (then the caller keeps what it has).
   */
  private async armFor(
    model: string,
    state: ModelState,
    version: number,
    current: ArmState | null,
  ): Promise<ArmState | null> {
    if (current?.version.version === version) return current;
    const record = await this.registry.getVersion(model, version);
    // a refused version is tried again only once its load check changed (e.g. `lumen verify` cleared it)
    const check = record?.loadCheck?.at ?? 'never';
    if (state.refused.get(version)?.check === check) return null;
    try {
      if (!record) throw new Error(`${model} v${version} is not registered`);
      if (record.loadCheck && !record.loadCheck.passed) {
        throw new Error(`its load check failed (${record.loadCheck.at}): ${record.loadCheck.detail}`);
      }
      const served = await ServedVersion.load(this.store, record);
      // trusted again (its load check changed, e.g. `lumen verify` cleared it): its refusals are forgotten
      state.refused.delete(version);
      for (const key of state.told) if (key.split('|')[1] === String(version)) state.told.delete(key);
      return {
        version: served,
        batcher: new MicroBatcher(
          (rows: ReadRow[]) => {
            const { table, flags } = served.rows.layout(rows);
            return served.predict(table).map((output, i) => ({ output, flags: flags[i] }));
          },
          this.options.batch,
          (stats) => this.options.onBatch?.(model, version, stats),
        ),
      };
    } catch (err) {
      state.refused.set(version, { reason: (err as Error).message, check });
      return null;
    }
  }

  private replace(state: ModelState, arm: Arm, next: ArmState | null, model?: string): void {
    const previous = state[arm];
    if (previous === next) return;
    if (model && previous?.version !== next?.version) {
      this.swaps.push({ model, arm, version: next?.version.version ?? null, at: Date.now() });
      if (this.swaps.length > 1000) this.swaps.shift();
    }
    if (arm === 'canary') state.canary = next as ModelState['canary'];
    else state[arm] = next;
    // the old version stays loaded until the requests it is answering are done
    if (previous && !this.inUse(state, previous.version)) previous.version.retire();
  }

  private inUse(state: ModelState, version: ServedVersion): boolean {
    return [state.champion, state.canary, state.shadow].some((a) => a?.version === version);
  }
}

/** Why a model without a champion loaded here cannot answer: never served here, or its champion refused. */
function notServed(
  model: string,
  state: ModelState | undefined,
): { kind: 'unknown-model' } | { kind: 'unavailable'; reason: string } {
  const d = state?.degraded;
  return d
    ? { kind: 'unavailable', reason: `${model} v${d.champion} cannot be served here: ${d.reason}` }
    : { kind: 'unknown-model' };
}
