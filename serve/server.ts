import { randomUUID } from 'node:crypto';
import os from 'node:os';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ArtifactStore } from '../lib/artifacts';
import { identityProblem } from '../lib/access/identity';
import { loadAccessPolicy } from '../lib/access/policy';
import { proofProblem, type DecisionProof } from '../lib/access/statement';
import { lumenPaths } from '../lib/config';
import { tracingActive } from '../lib/telemetry';
import { AccessDenied, ConflictError, NotFoundError, SpecError } from '../lib/errors';
import { changeServingPolicy } from '../lib/serving/change';
import type { Registry } from '../lib/registry/types';
import type { BatcherOptions } from '../lib/serving/batcher';
import { answeredPredictions, FeedbackStore, LabelContracts, type FeedbackOutcome } from '../lib/serving/feedback';
import { ModelHost, type RequestTrace } from '../lib/serving/host';
import { ServingPolicy } from '../lib/serving/policy';
import { PredictionLog, PredictionLogUnavailable, type PredictionLogOptions } from '../lib/serving/prediction-log';
import { tokenMatches, type ServingTokens } from '../lib/serving/tokens';
import { ServingMetrics } from './metrics';
import { RateLimiter } from './rate-limit';
import { arrivedAt, noteArrivals, tracedPredict } from './tracing';
import { HttpError, oneOrMany } from './http';
import { registerWhyRoutes } from './why-routes';
import type { Client } from '@temporalio/client';
import { clientConfig, connectClient, type ClientConfig } from '../client/connection';
import { loopbackAddress, registerConsole } from './console';

/**
 * The prediction API (docs/serving.md): one process serves every model that has a champion.
 *
 *   POST /v1/models/:model/predict   rows of raw source columns → predictions (ids, outputs, flags, version)
 *   POST /v1/models/:model/explain   the same rows → outputs and flags, each attributed to the spec's features
 *   POST /v1/feedback                true labels for prediction ids (token)
 *   GET  /v1/predictions/:id         a prediction's decision record: input, output, version, lineage, label, why
 *   GET  /v1/models, /v1/models/:model
 *   PUT  /v1/models/:model/serving   canary and shadow (admin token)
 *   POST /v1/admin/reload            look at the registry now (admin token; sent by promotions and rollbacks)
 *   GET  /metrics, /healthz, /readyz
 *   GET  /ui                         the web console (serve/console)
 */
export interface ServeOptions {
  host: string;
  port: number;
  /** trace each predict request (serve/tracing.ts); default: whether this process exports traces (lib/telemetry.ts) */
  tracing?: boolean;
  /** where the console links trace ids (LUMEN_TRACE_URL, `{traceId}` in it); null or absent: shown bare */
  traceUrl?: string | null;
  batch: BatcherOptions;
  /** largest request body in bytes */
  bodyLimit: number;
  /** most rows in one predict request */
  maxRows: number;
  /** per client address; null: no limit (the default: see docs/serving.md, "Rate limits behind a proxy") */
  rateLimit: { perSecond: number; burst: number } | null;
  /**
   * addresses or CIDR ranges of the reverse proxies, load balancers or ingresses in front of this server: a request
   * from one of them is counted against the client named in its X-Forwarded-For, any other against its own address.
   * Empty: X-Forwarded-For is never believed (anyone can write it).
   */
  trustProxy?: string[];
  tokens: ServingTokens;
  /** how often the registry is read for alias moves and policy changes (ms) */
  watchMs: number;
  /** where predictions are logged; null: not logged */
  log: { root: string; options: PredictionLogOptions } | null;
  feedbackFile: string;
  /** allowed browser origin for CORS (default: none, CORS off) */
  corsOrigin: string | null;
  /** where access.json is looked for (default: LUMEN_HOME) */
  home?: string;
  /**
   * the web console at /ui: on (default), off, or behind-proxy (the operator vouches for an authenticating proxy in
   * front; needed to serve it on a non-loopback address while access control is on)
   */
  console?: 'on' | 'off' | 'behind-proxy';
  /** the Temporal server the console's decisions go to, and its Web UI for links (default: the environment's) */
  temporal?: ClientConfig;
}

export interface RunningServer {
  url: string;
  app: FastifyInstance;
  host: ModelHost;
  log: PredictionLog | null;
  metrics: ServingMetrics;
  /** record labels as POST /v1/feedback does (no correction rights) */
  takeFeedback: (items: unknown[]) => Promise<FeedbackOutcome>;
  /** the feedback store: which prediction answered an event under its key (stream scoring with labels) */
  answerKeys: Pick<FeedbackStore, 'rememberKeys' | 'predictionOfKey'>;
  close(): Promise<void>;
}

const PolicyRequest = z.strictObject({
  canary: z
    .strictObject({ version: z.number().int().min(1), share: z.number().min(0).max(1) })
    .nullable()
    .optional(),
  shadow: z
    .strictObject({ version: z.number().int().min(1) })
    .nullable()
    .optional(),
  by: z.string().superRefine((v, ctx) => {
    const problem = identityProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: `who changes it ("by"): ${problem}` });
  }),
  reason: z.string().trim().min(1, 'why ("reason")').max(10_000),
  /** why a version unfit for live traffic may take a canary share */
  override: z.string().trim().min(1).max(10_000).optional(),
  /** the caller's signature of the decision (lumen's signing keys); required while access control is on */
  proof: z.unknown().optional(),
});

/** Routes a rate limit never applies to. */
const UNLIMITED = new Set(['/metrics', '/healthz', '/readyz']);

/**
 * The console's pages (models, versions, alerts, validation reports) need no login to read. With access control on,
 * that is allowed only where nobody else can reach them: on a loopback address, or behind an authenticating proxy
 * the operator vouches for (--console behind-proxy). Otherwise the server does not start, and says why.
 */
export function consoleExposure(opts: Pick<ServeOptions, 'host' | 'console' | 'home'>): string | null {
  if ((opts.console ?? 'on') !== 'on') return null;
  if (!loadAccessPolicy(opts.home ?? lumenPaths().home).enforce) return null;
  if (loopbackAddress(opts.host)) return null;
  return (
    `access control is on, and the console's read pages (models, alerts, reports) need no login: it is not served ` +
    `on ${opts.host}. Listen on 127.0.0.1, put it behind a proxy that authenticates people (--console behind-proxy), ` +
    `or serve the API alone (--console off)`
  );
}

/** the deepest nesting of arrays and objects a request body may have (a predict body needs 3) */
export const MAX_JSON_DEPTH = 64;

/** How deep a JSON text nests its arrays and objects, counted up to `stopAbove` + 1 (strings skipped). */
export function nestingDepth(text: string, stopAbove: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > deepest) deepest = depth;
      if (deepest > stopAbove) return deepest;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

export async function startServer(
  deps: { store: ArtifactStore; registry: Registry },
  opts: ServeOptions,
): Promise<RunningServer> {
  const consoleProblem = consoleExposure(opts);
  if (consoleProblem) throw new SpecError(consoleProblem);
  const log = opts.log ? new PredictionLog(opts.log.root, opts.log.options) : null;
  // what a process that died here answered becomes segments before this one answers anything
  await log?.recover();
  log?.start();
  const metrics = new ServingMetrics(log);
  const feedback = new FeedbackStore(opts.feedbackFile);
  const labelContracts = new LabelContracts(deps.registry, deps.store);
  const host = new ModelHost(deps.store, deps.registry, {
    batch: opts.batch,
    log,
    onBatch: (model, version, stats) => {
      metrics.batchRows.observe({ model, version: String(version) }, stats.rows);
      for (const w of stats.waits) metrics.queueWait.observe({ model, version: String(version) }, w / 1000);
    },
    onRefused: async (model, r) => {
      const where = `${os.hostname()}:${opts.port}`;
      const instead =
        r.arm === 'champion'
          ? r.instead === null
            ? `Nothing is served for ${model} on ${where}: no earlier champion could be loaded either (predict answers 503).`
            : `${model} v${r.instead}, an earlier champion, serves in its place on ${where} until v${r.version} can be trusted (lumen verify ${model}@${r.version}).`
          : r.arm === 'canary'
            ? `Its canary share goes to the champion${r.instead === null ? '' : ` v${r.instead}`}.`
            : 'Nothing shadows the champion.';
      const message = `${model} v${r.version} (${r.arm}) is not served: ${r.reason}. ${instead}`;
      console.error(`[lumen] serve: ${message}`);
      await deps.registry.recordAlert({
        model,
        severity: 'critical',
        kind: 'serving-refused',
        message,
        details: { version: r.version, arm: r.arm, servingInstead: r.instead },
        workflowId: null,
        runId: null,
        key: `serving-refused:${model}:${r.arm}:v${r.version}:${r.instead ?? 'none'}:${where}`,
      });
    },
  });
  const limiter = opts.rateLimit ? new RateLimiter(opts.rateLimit.perSecond, opts.rateLimit.burst) : null;

  const app = Fastify({
    bodyLimit: opts.bodyLimit,
    logger: false,
    return503OnClosing: true,
    // req.ip: the client X-Forwarded-For names, but only past proxies that are trusted (fastify's proxy-addr)
    trustProxy: opts.trustProxy?.length ? opts.trustProxy : false,
  });
  let warnedForwarded = false;
  // JSON only: fastify would read text/plain bodies as strings; refused instead, with 415
  app.removeContentTypeParser('text/plain');
  // a body nested thousands of levels deep would overflow the parser's stack (a 500): refused first, with 400
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const depth = nestingDepth(body as string, MAX_JSON_DEPTH);
    if (depth > MAX_JSON_DEPTH) {
      done(
        new HttpError(400, `the body nests more than ${MAX_JSON_DEPTH} levels deep; no request needs that`),
        undefined,
      );
      return;
    }
    void parseJson(req, body as string, done);
  });

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-content-type-options', 'nosniff');
    if (opts.corsOrigin) {
      reply.header('access-control-allow-origin', opts.corsOrigin);
      reply.header('vary', 'origin');
    }
    // health checks and scrapes come from the infrastructure, not from clients: never throttled
    if (!limiter || UNLIMITED.has(req.url)) return;
    if (!warnedForwarded && req.headers['x-forwarded-for'] !== undefined && req.ip === req.socket.remoteAddress) {
      // every client behind that proxy is counted as one: say so once, as docs/serving.md says
      warnedForwarded = true;
      console.warn(
        `[lumen] serve: requests from ${req.socket.remoteAddress} carry X-Forwarded-For, but that address is not a ` +
          'trusted proxy (--trust-proxy): every client behind it shares one rate limit',
      );
    }
    if (!limiter.take(req.ip)) {
      metrics.throttled.inc({ reason: 'client-rate-limit' });
      reply.header('retry-after', '1');
      throw new HttpError(429, `too many requests from ${req.ip}: at most ${opts.rateLimit!.perSecond} per second`);
    }
  });
  app.addHook('onResponse', async (req, reply) => {
    metrics.requests.inc({ route: req.routeOptions.url ?? 'unknown', method: req.method, status: reply.statusCode });
  });
  app.setNotFoundHandler(async (req) => {
    throw new HttpError(404, `no route ${req.method} ${req.url.split('?')[0]}`);
  });
  // what a client is told: the status and why, never a stack or a path on this machine
  app.setErrorHandler(async (err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err instanceof HttpError) return reply.status(err.status).send({ error: err.message, ...err.extra });
    if (err instanceof PredictionLogUnavailable) {
      // not answered: an answer the log cannot keep would be lost to the monitor and to feedback
      return reply.status(503).send({ error: `${err.message}; the prediction was not answered` });
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.status(413).send({ error: `body too large: at most ${opts.bodyLimit} bytes` });
    }
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return reply.status(415).send({
        error: `unsupported content type "${req.headers['content-type'] ?? ''}": send application/json`,
      });
    }
    if (err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return reply.status(400).send({ error: 'the body is empty' });
    if (err instanceof SyntaxError || err.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
      return reply.status(400).send({ error: `the body is not valid JSON: ${err.message.split('\n')[0]}` });
    }
    if (err.statusCode && err.statusCode < 500) return reply.status(err.statusCode).send({ error: err.message });
    console.error(`[lumen] serve: ${req.method} ${req.url}: ${err.stack ?? err.message}`);
    return reply.status(500).send({ error: 'internal error' });
  });

  const requireToken = (req: FastifyRequest, expected: string | null, what: string): void => {
    if (expected === null) return;
    if (!tokenMatches(req.headers.authorization, expected)) {
      throw new HttpError(401, `${what} needs "Authorization: Bearer <token>"`);
    }
  };

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const r = await host.readiness();
    const why = (d: { model: string; champion: number; serving: number | null; reason: string }) => ({
      model: d.model,
      champion: d.champion,
      serving: d.serving,
      reason: d.reason,
    });
    if (r.unavailable.length) {
      return reply.status(503).send({
        status: 'unavailable',
        unavailable: r.unavailable.map(why),
        degraded: r.degraded.map(why),
        waiting: r.waiting,
      });
    }
    if (!r.ready) return reply.status(503).send({ status: 'loading', waiting: r.waiting });
    return reply
      .status(200)
      .send(r.degraded.length ? { status: 'degraded', degraded: r.degraded.map(why) } : { status: 'ready' });
  });
  app.get('/metrics', async (_req, reply) => {
    for (const [model, s] of Object.entries(host.state())) {
      metrics.served.set({ model, arm: 'champion' }, s.champion ?? 0);
      metrics.served.set({ model, arm: 'canary' }, s.canary?.version ?? 0);
      metrics.served.set({ model, arm: 'shadow' }, s.shadow ?? 0);
      metrics.explainWaiting.set({ model }, s.explainWaiting);
    }
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  app.get('/v1/models', async () => ({ models: host.state() }));
  app.get('/v1/models/:model', async (req) => {
    const { model } = req.params as { model: string };
    const state = host.state()[model];
    const served = host.served(model);
    if (state?.degraded && !served) {
      throw new HttpError(503, `${model} v${state.degraded.champion} cannot be served here: ${state.degraded.reason}`, {
        degraded: state.degraded,
      });
    }
    if (!state || !served) throw new HttpError(404, `no model "${model}" is served here`);
    const r = served.record;
    const policy = await deps.registry.servingPolicy(model);
    return {
      model,
      serving: { version: served.version, artifactSha256: served.artifact.sha256, task: r.task },
      canary: state.canary,
      shadow: state.shadow === null ? null : { version: state.shadow },
      policy: policy ?? { source: 'spec', policy: ServingPolicy.parse(r.spec.serving ?? {}) },
      refused: state.refused,
      degraded: state.degraded,
      metrics: r.metrics,
      lineage: {
        registeredAt: r.createdAt,
        dataset: r.datasetSha256,
        specHash: r.specHash,
        codeVersion: r.codeVersion,
        backend: r.backend,
        seed: r.seed,
        workflowId: r.workflowId,
        runId: r.runId,
      },
      columns: served.rows.columns,
    };
  });

  // with tracing on (lib/telemetry.ts), a request's span starts when it arrives, before fastify reads its body
  const traced = opts.tracing ?? tracingActive();
  if (traced) noteArrivals(app.server);

  app.post('/v1/models/:model/predict', async (req, reply) => {
    if (!traced) {
      await predict(req, reply);
      return reply;
    }
    // who may not predict gets no span either: a caller without the token cannot make this server export traces
    requireToken(req, opts.tokens.predict, 'predict');
    const { model } = req.params as { model: string };
    await tracedPredict(
      req.headers,
      model,
      arrivedAt(req.raw),
      (trace) => predict(req, reply, trace),
      (answered) => answered,
    );
    return reply;
  });

  const predict = async (
    req: FastifyRequest,
    reply: FastifyReply,
    trace?: RequestTrace,
  ): Promise<{ version: number; arm: string; rows: number }> => {
    requireToken(req, opts.tokens.predict, 'predict');
    const { model } = req.params as { model: string };
    const body = req.body;
    const rows = oneOrMany(body);
    if (!rows) throw new HttpError(400, 'send one row (a JSON object of column values) or an array of rows');
    if (rows.length === 0) throw new HttpError(400, 'no rows to predict');
    if (rows.length > opts.maxRows) {
      throw new HttpError(413, `${rows.length} rows in one request; at most ${opts.maxRows}`);
    }
    const key = req.headers['x-lumen-routing-key'];
    const started = performance.now();
    const result = await host.predict(model, rows, typeof key === 'string' ? key : undefined, trace);
    if (result.kind === 'unknown-model') throw new HttpError(404, `no model "${model}" is served here`);
    if (result.kind === 'unavailable') throw new HttpError(503, result.reason);
    if (result.kind === 'invalid') {
      for (const p of result.problems) metrics.refusedRows.inc({ model, code: p.code });
      throw new HttpError(400, `${result.problems.length} value(s) break the contract of ${model}`, {
        problems: result.problems,
      });
    }
    const labels = { model, version: String(result.version), arm: result.arm };
    metrics.latency.observe(labels, (performance.now() - started) / 1000);
    metrics.rows.inc(labels, result.predictions.length);
    for (const p of result.predictions) for (const f of p.flags) metrics.flags.inc({ model, code: f.code });
    void reply.send({
      model: result.model,
      version: result.version,
      artifactSha256: result.artifactSha256,
      arm: result.arm,
      predictions: result.predictions.map((p) => ({ id: p.id, ...p.output, flags: p.flags })),
    });
    return { version: result.version, arm: result.arm, rows: result.predictions.length };
  };

  const recordOf = registerWhyRoutes(app, {
    store: deps.store,
    registry: deps.registry,
    host,
    log,
    feedback,
    tokens: opts.tokens,
    requireToken,
  });

  /**
   * Labels for predictions this instance's log holds, judged by the contract of the version that answered: the one
   * way in, for a request and for a labels topic alike.
   */
  const takeFeedback = async (items: unknown[], corrector: string | null): Promise<FeedbackOutcome> => {
    if (!log) throw new Error('this server keeps no prediction log, so a label cannot be joined to its prediction');
    // this process's answers reach the log first, so a label sent right after its prediction finds it
    await log.flush();
    const answered = await answeredPredictions(log.root, items, labelContracts);
    return feedback.record(items, answered, corrector);
  };

  app.post('/v1/feedback', async (req, reply) => {
    const admin = tokenMatches(req.headers.authorization, opts.tokens.admin);
    if (!admin) requireToken(req, opts.tokens.feedback, 'feedback');
    const body = req.body;
    const items = oneOrMany(body);
    if (!items || items.length === 0) {
      throw new HttpError(400, 'send {"predictionId": …, "label": …} or an array of them');
    }
    if (!log) {
      throw new HttpError(503, 'this server keeps no prediction log, so a label cannot be joined to its prediction');
    }
    const outcome = await takeFeedback(items, admin ? 'serve:admin-token' : null);
    for (const c of outcome.corrected) {
      await deps.registry.recordAudit({
        model: c.model,
        action: 'feedback-correct',
        subject: { predictionId: c.predictionId, from: c.from, to: c.to },
        identity: 'serve:admin-token',
        proof: 'claimed',
        keyId: null,
        outcome: 'applied',
        detail: c.reason,
        workflowId: null,
      });
    }
    // what was accepted stays accepted; what was not is listed
    const refused = outcome.invalid.length + outcome.unknown.length;
    const status = refused ? 400 : outcome.conflicts.length ? 409 : 200;
    return reply.status(status).send(outcome);
  });

  app.put('/v1/models/:model/serving', async (req) => {
    requireToken(req, opts.tokens.admin, 'changing the serving policy');
    const { model } = req.params as { model: string };
    const parsed = PolicyRequest.safeParse(req.body);
    if (!parsed.success) {
      throw new HttpError(
        400,
        parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; '),
      );
    }
    const { by, reason, override, proof, ...policy } = parsed.data;
    const proofShape = proof === undefined ? null : proofProblem(proof);
    if (proofShape) throw new HttpError(400, `proof: ${proofShape}`);
    // the admin token lets a caller ask; the decision is still a person's, verified and audited under the name proven
    try {
      await changeServingPolicy(
        deps.registry,
        loadAccessPolicy(opts.home ?? lumenPaths().home),
        {
          model,
          policy: ServingPolicy.parse(policy),
          by,
          reason,
          ...(override ? { override } : {}),
          ...(proof ? { proof: proof as DecisionProof } : {}),
        },
        `http serving ${model} (${randomUUID()})`,
      );
    } catch (err) {
      if (err instanceof AccessDenied) throw new HttpError(403, err.message);
      if (err instanceof NotFoundError) throw new HttpError(404, err.message);
      if (err instanceof ConflictError) throw new HttpError(409, err.message);
      throw err;
    }
    await host.sync();
    return { model, state: host.state()[model] ?? null };
  });

  app.post('/v1/admin/reload', async (req) => {
    requireToken(req, opts.tokens.admin, 'reload');
    await host.sync();
    return { models: host.state() };
  });

  const temporal = opts.temporal ?? clientConfig();
  let client: Promise<Client> | undefined;
  const connect = (): Promise<Client> => {
    // a failed connection is not kept: the next decision tries again
    client ??= connectClient(temporal).catch((err: unknown) => {
      client = undefined;
      throw err;
    });
    return client;
  };
  if ((opts.console ?? 'on') !== 'off') {
    registerConsole(
      app,
      { store: deps.store, registry: deps.registry, host },
      {
        adminToken: opts.tokens.admin,
        temporalUi: temporal,
        connect,
        traceUrl: opts.traceUrl ?? null,
        loopbackOnly: loopbackAddress(opts.host),
        // a record shows the row as received and its label: on a console only this machine or an authenticating
        // proxy reaches
        ...(log && (loopbackAddress(opts.host) || opts.console === 'behind-proxy')
          ? { decisionRecord: (id: string) => recordOf(id) }
          : {}),
      },
    );
  }

  await host.sync();
  const watch = setInterval(() => void host.sync(), opts.watchMs);
  watch.unref();
  await app.listen({ host: opts.host, port: opts.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const url = `http://${opts.host === '0.0.0.0' ? os.hostname() : opts.host}:${port}`;
  const instance = { id: `${os.hostname()}:${port}:${process.pid}`, url };
  const announce = async (): Promise<void> => {
    await deps.registry.announceServingInstance(instance).catch((err: unknown) => {
      console.error(`[lumen] serve: could not announce this instance: ${(err as Error).message}`);
    });
  };
  await announce();
  const announcing = setInterval(() => void announce(), 10_000);
  announcing.unref();

  return {
    url,
    app,
    host,
    log,
    metrics,
    takeFeedback: (items) => takeFeedback(items, null),
    answerKeys: feedback,
    async close() {
      clearInterval(watch);
      clearInterval(announcing);
      await app.close();
      await log?.close();
      host.close();
      feedback.close();
      if (client) await (await client.catch(() => undefined))?.connection.close();
    },
  };
}
