import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ArtifactStore } from '../lib/artifacts';
import type { Registry } from '../lib/registry/types';
import { decisionRecord, type DecisionRecord } from '../lib/serving/decision-record';
import { ExplainAbandoned, ExplainUnavailable } from '../lib/serving/explainer';
import type { FeedbackStore } from '../lib/serving/feedback';
import type { ModelHost } from '../lib/serving/host';
import { PREDICTION_ID } from '../lib/serving/ids';
import type { PredictionLog } from '../lib/serving/prediction-log';
import { tokenMatches, type ServingTokens } from '../lib/serving/tokens';
import { ServedVersion } from '../lib/serving/version';
import { HttpError, oneOrMany } from './http';

/** Rows one explain request may ask for: each costs 2^features × the background in model rows. */
const MAX_EXPLAINED_ROWS = 100;

/** Decision records that may wait for their turn; beyond, a lookup is refused (503) rather than queued. */
const MAX_WAITING_RECORDS = 16;

/** One at a time, at most `limit` waiting: a call beyond is refused with 503. */
function oneAtATime(limit: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let last: Promise<unknown> = Promise.resolve();
  let waiting = 0;
  return <T>(fn: () => Promise<T>): Promise<T> => {
    if (waiting >= limit)
      return Promise.reject(new HttpError(503, `${waiting} lookups already wait; try again shortly`));
    waiting++;
    const run = last.then(fn).finally(() => waiting--);
    last = run.catch(() => undefined);
    return run;
  };
}

/**
 * Why a model said what it said: POST /v1/models/:model/explain (rows → outputs with their attributions) and
 * GET /v1/predictions/:id (a prediction's decision record). Returns the record lookup, for the console.
 */
export function registerWhyRoutes(
  app: FastifyInstance,
  ctx: {
    store: ArtifactStore;
    registry: Registry;
    host: ModelHost;
    log: PredictionLog | null;
    feedback: FeedbackStore;
    tokens: ServingTokens;
    requireToken: (req: FastifyRequest, expected: string | null, what: string) => void;
  },
): (id: string) => Promise<DecisionRecord | undefined> {
  const { store, registry, host, log, feedback, tokens, requireToken } = ctx;

  app.post('/v1/models/:model/explain', async (req, reply) => {
    requireToken(req, tokens.predict, 'predict');
    const { model } = req.params as { model: string };
    const rows = oneOrMany(req.body);
    if (!rows) throw new HttpError(400, 'send one row (a JSON object of column values) or an array of rows');
    if (rows.length === 0) throw new HttpError(400, 'no rows to explain');
    if (rows.length > MAX_EXPLAINED_ROWS) {
      throw new HttpError(413, `${rows.length} rows to explain in one request; at most ${MAX_EXPLAINED_ROWS}`);
    }
    // a client that goes away before its answer is written abandons the rows still waiting
    const abandoned = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) abandoned.abort();
    });
    if (req.raw.socket.destroyed) abandoned.abort(); // gone already, while the body was read
    const result = await host.explain(model, rows, abandoned.signal).catch((err: unknown) => {
      if (err instanceof ExplainUnavailable)
        throw new HttpError(503, `${model} cannot be explained now: ${err.message}`);
      // nobody is there to read an answer: the status proxies give a request its client closed
      if (err instanceof ExplainAbandoned) throw new HttpError(499, err.message);
      throw err;
    });
    if (result.kind === 'unknown-model') throw new HttpError(404, `no model "${model}" is served here`);
    if (result.kind === 'unavailable') throw new HttpError(503, result.reason);
    if (result.kind === 'invalid') {
      throw new HttpError(400, `${result.problems.length} value(s) break the contract of ${model}`, {
        problems: result.problems,
      });
    }
    return reply.send({
      model: result.model,
      version: result.version,
      artifactSha256: result.artifactSha256,
      background: result.background,
      explanations: result.outputs.map((output, i) => ({
        ...output,
        flags: result.flags[i],
        attribution: result.explanations[i],
      })),
    });
  });

  /**
   * A prediction's decision record, explained by its version — the one loaded here if it still serves — one record
   * at a time (a version that no longer serves is loaded for it), its attribution in turn with the predictions.
   */
  const records = oneAtATime(MAX_WAITING_RECORDS);
  const lookUp = async (predictionLog: PredictionLog, id: string) => {
    // what this process answered a moment ago may still be written ahead only: into the log first (if the log
    // cannot be written now, what is in it is still read)
    await predictionLog.flush().catch(() => undefined);
    return decisionRecord(
      {
        store: store,
        registry: registry,
        logRoot: predictionLog.root,
        feedback,
        loadVersion: async (v) => {
          const current = host.loaded(v.model, v.version);
          if (current) {
            current.enter();
            return { served: current, release: () => current.leave() };
          }
          const served = await ServedVersion.load(store, v);
          return { served, release: () => served.dispose() };
        },
        background: (v, pre) => host.backgroundOf(v, pre),
        turn: (work) => host.turn(work),
      },
      id,
    );
  };

  app.get('/v1/predictions/:id', async (req) => {
    const admin = tokenMatches(req.headers.authorization, tokens.admin);
    if (!admin) requireToken(req, tokens.feedback, 'a decision record');
    const { id } = req.params as { id: string };
    if (!PREDICTION_ID.test(id)) throw new HttpError(400, `"${id.slice(0, 80)}" is not a prediction id`);
    if (!log) throw new HttpError(404, 'this instance keeps no prediction log (--no-log)');
    const record = await records(() => lookUp(log, id));
    if (!record) throw new HttpError(404, `no prediction ${id} in this instance's prediction log`);
    return record;
  });

  return (id: string) => (log ? records(() => lookUp(log, id)) : Promise.resolve(undefined));
}
