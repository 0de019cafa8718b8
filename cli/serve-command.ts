import net from 'node:net';
import path from 'node:path';
import { kafkaConnection } from '../lib/stream/connection';
import { StreamLabels } from '../serve/stream-labels';
import { StreamScorer } from '../serve/stream-scorer';
import { openArtifactStore } from '../lib/artifacts';
import { lumenPaths } from '../lib/config';
import { openRegistryAt } from '../lib/registry/open';
import type { FsyncPolicy } from '../lib/serving/log-wal';
import { DEFAULT_LOG_OPTIONS } from '../lib/serving/prediction-log';
import { servingTokens } from '../lib/serving/tokens';
import { startServer } from '../serve/server';
import { CliError, parseCount } from '../client/errors';
import { tracesTemplate } from './trace-url';

export interface ServeCommandOptions {
  console: 'on' | 'off' | 'behind-proxy';
  host: string;
  port: string;
  maxBatch: string;
  maxWaitMs: string;
  bodyLimit: string;
  maxRows: string;
  rateLimit: string;
  trustProxy?: string;
  watchMs: string;
  log: boolean;
  logRetentionDays: string;
  logFsync: FsyncPolicy;
  logFsyncEveryMs: string;
  corsOrigin?: string;
  /** `lumen stream score`: also answer a Kafka topic's events into another */
  stream?: { model: string; in: string; out: string; group?: string; labels?: string };
}

const nonNegative = (text: string, option: string): number => {
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || n < 0) throw new CliError(`${option} must be a number ≥ 0, got "${text}"`);
  return n;
};

/** --trust-proxy: addresses and CIDR ranges (IPv4 or IPv6), comma-separated; each checked here. */
function trustedProxies(text: string | undefined): string[] {
  if (!text?.trim()) return [];
  return text.split(',').map((part) => {
    const entry = part.trim();
    const [address, bits, extra] = entry.split('/');
    const version = net.isIP(address);
    const width = version === 4 ? 32 : 128;
    const prefixOk = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= width);
    if (!version || !prefixOk || extra !== undefined) {
      throw new CliError(`--trust-proxy: "${entry}" is not an IP address or a CIDR range (e.g. 10.0.0.0/8, ::1)`);
    }
    return entry;
  });
}

/** `lumen serve`: the prediction API for every model with a champion, until Ctrl-C. */
export async function serveCommand(opts: ServeCommandOptions): Promise<void> {
  // a wrong link setting stops the start, before anything listens
  const traceUrl = tracesTemplate();
  const paths = lumenPaths();
  const registry = await openRegistryAt(paths.registry);
  const { tokens, generated } = servingTokens(paths.home);
  const rate = nonNegative(opts.rateLimit, '--rate-limit');
  const server = await startServer(
    { store: await openArtifactStore(paths), registry },
    {
      host: opts.host,
      port: nonNegative(opts.port, '--port'),
      batch: {
        maxBatch: parseCount(opts.maxBatch, '--max-batch'),
        maxWaitMs: nonNegative(opts.maxWaitMs, '--max-wait-ms'),
      },
      bodyLimit: parseCount(opts.bodyLimit, '--body-limit'),
      maxRows: parseCount(opts.maxRows, '--max-rows'),
      rateLimit: rate > 0 ? { perSecond: rate, burst: rate * 2 } : null,
      trustProxy: trustedProxies(opts.trustProxy),
      tokens,
      watchMs: parseCount(opts.watchMs, '--watch-ms'),
      log: opts.log
        ? {
            root: path.join(paths.home, 'predictions'),
            options: {
              ...DEFAULT_LOG_OPTIONS,
              retentionDays: parseCount(opts.logRetentionDays, '--log-retention-days'),
              fsync: opts.logFsync,
              fsyncEveryMs: parseCount(opts.logFsyncEveryMs, '--log-fsync-every-ms'),
            },
          }
        : null,
      feedbackFile: path.join(paths.home, 'predictions', 'feedback.sqlite'),
      corsOrigin: opts.corsOrigin ?? null,
      home: paths.home,
      console: opts.console,
      traceUrl,
    },
  );
  let scorer: StreamScorer | null = null;
  if (opts.stream) {
    scorer = new StreamScorer(
      server.host,
      kafkaConnection(),
      {
        model: opts.stream.model,
        inTopic: opts.stream.in,
        outTopic: opts.stream.out,
        ...(opts.stream.group ? { group: opts.stream.group } : {}),
        maxBatch: parseCount(opts.maxBatch, '--max-batch'),
        // with labels read here, a label under an event's own key finds the prediction that answered it
        ...(opts.stream.labels
          ? { rememberKeys: (pairs: [string, string][]) => server.answerKeys.rememberKeys(opts.stream!.model, pairs) }
          : {}),
      },
      server.metrics,
    );
    try {
      await scorer.start();
    } catch (err) {
      await server.close();
      registry.close();
      throw new CliError(`cannot score ${opts.stream.in}: ${(err as Error).message}`);
    }
  }
  let labels: StreamLabels | null = null;
  if (opts.stream?.labels && !opts.log) {
    await scorer?.stop();
    await server.close();
    registry.close();
    throw new CliError('--labels joins each label to its prediction in the prediction log: it cannot go with --no-log');
  }
  if (opts.stream?.labels) {
    labels = new StreamLabels(
      server.takeFeedback,
      kafkaConnection(),
      {
        topic: opts.stream.labels,
        byKey: {
          model: opts.stream.model,
          predictionOfKey: (model, key) => server.answerKeys.predictionOfKey(model, key),
        },
      },
      server.metrics,
    );
    try {
      await labels.start();
    } catch (err) {
      await scorer?.stop();
      await server.close();
      registry.close();
      throw new CliError(`cannot read labels from ${opts.stream.labels}: ${(err as Error).message}`);
    }
  }
  // listen before saying it is up: a Ctrl-C right after the message must stop it cleanly
  const stopped = new Promise<void>((resolve) => {
    // `on`, not `once`: a second Ctrl-C while requests drain must not kill the process half-way
    process.on('SIGINT', () => resolve());
    process.on('SIGTERM', () => resolve());
  });
  const state = server.host.state();
  console.log(`serving on ${server.url}`);
  for (const [model, s] of Object.entries(state)) {
    console.log(
      `  ${model}: v${s.champion ?? '–'}${s.canary ? `, canary v${s.canary.version} (${(100 * s.canary.share).toFixed(0)}%)` : ''}${s.shadow ? `, shadow v${s.shadow}` : ''}`,
    );
  }
  if (Object.keys(state).length === 0) console.log('  no model has a champion yet: it is served as soon as one does');
  if (generated) console.log(`admin and feedback token: in ${generated} (or set LUMEN_ADMIN_TOKEN)`);
  console.log(
    opts.log
      ? `predictions logged to ${path.join(paths.home, 'predictions')} (written ahead of each answer; fsync ${opts.logFsync})`
      : 'predictions logged nowhere (--no-log)',
  );
  if (scorer && opts.stream) {
    console.log(
      `scoring ${opts.stream.in} into ${opts.stream.out} for ${opts.stream.model} (group ${scorer.group}); lag in ${server.url}/metrics`,
    );
  }
  if (labels && opts.stream?.labels) {
    console.log(`labels from ${opts.stream.labels} (refused ones, with why, to ${labels.deadLetterTopic})`);
  }
  await stopped;
  await scorer?.stop();
  await labels?.stop();
  console.log('stopping: finishing requests in flight, writing the prediction log');
  await server.close();
  registry.close();
}
