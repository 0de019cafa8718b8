import fs from 'node:fs';
import path from 'node:path';
import type { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { lumenPaths } from '../lib/config';
import { tracingWanted } from '../lib/telemetry';
import { PIPELINE_QUEUE, TRAINING_QUEUE } from '../workflows/queues';
import { CliError, EXIT, serverUnreachable } from './errors';

export interface ClientConfig {
  address: string;
  namespace: string;
  /** base URL of the Temporal Web UI, for links printed to people */
  uiUrl: string;
  /**
   * how to connect — address, TLS (server CA, client certificate, server name), API key, gRPC headers — as Temporal's
   * environment configuration gives it; holds secrets: never print it
   */
  connection: NativeConnectionOptions & { address: string };
  /** how the connection is secured, for messages: "TLS, client certificate" / "API key" / "plain" */
  security: string;
}

/**
 * Where and how to reach Temporal, configured the way Temporal's own tools are: a profile file (TEMPORAL_CONFIG_FILE,
 * default ~/.config/temporalio/temporal.toml; TEMPORAL_PROFILE picks one) overridden by TEMPORAL_ADDRESS,
 * TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS, TEMPORAL_TLS_CLIENT_CERT_PATH / _KEY_PATH,
 * TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_SERVER_NAME and TEMPORAL_GRPC_META_*. Without any: the local dev
 * server, unsecured.
 */
export function clientConfig(): ClientConfig {
  let loaded: ReturnType<typeof loadClientConnectConfig>;
  try {
    loaded = loadClientConnectConfig();
  } catch (err) {
    throw new CliError(
      `cannot read Temporal's connection settings (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE, TEMPORAL_TLS_*): ${(err as Error).message}`,
      EXIT.usage,
    );
  }
  const address = loaded.connectionOptions.address ?? '127.0.0.1:7233';
  const options = loaded.connectionOptions;
  const tls = options.tls;
  const security = [
    tls ? 'TLS' : '',
    typeof tls === 'object' && tls?.clientCertPair ? 'client certificate' : '',
    options.apiKey ? 'API key' : '',
  ]
    .filter(Boolean)
    .join(', ');
  return {
    address,
    namespace: loaded.namespace ?? 'default',
    uiUrl: process.env.LUMEN_UI_URL ?? runningServerUi(address) ?? 'http://localhost:8233',
    connection: { ...options, address },
    security: security || 'plain',
  };
}

/** Where `lumen server` records the server it runs, so links follow its Web UI's real address. */
export function serverRecordFile(home = lumenPaths().home): string {
  return path.join(home, 'temporal', 'server.json');
}

/**
 * The Web UI of the dev server `lumen server` runs at this address, if one runs (its record names a live process):
 * a UI on another port than 8233 is where the links must point.
 */
function runningServerUi(address: string): string | undefined {
  try {
    const record = JSON.parse(fs.readFileSync(serverRecordFile(), 'utf8')) as {
      address: string;
      uiUrl?: string;
      pid: number;
    };
    if (record.address !== address || !record.uiUrl) return undefined;
    process.kill(record.pid, 0); // throws when the process is gone
    return record.uiUrl;
  } catch {
    return undefined;
  }
}

/** A plain connection to a local dev server (a demo's own, a test's). */
export function localClientConfig(address: string, uiUrl = 'http://localhost:8233'): ClientConfig {
  return { address, namespace: 'default', uiUrl, connection: { address }, security: 'plain' };
}

/**
 * The task queues of this deployment: LUMEN_PIPELINE_QUEUE and LUMEN_TRAINING_QUEUE, so several Lumen
 * environments (or test runs) can share one namespace; defaults lumen-pipeline and lumen-training.
 */
export function taskQueues(): { pipeline: string; training: string } {
  return {
    pipeline: process.env.LUMEN_PIPELINE_QUEUE || PIPELINE_QUEUE,
    training: process.env.LUMEN_TRAINING_QUEUE || TRAINING_QUEUE,
  };
}

/** A client for the configured server, or a refusal that names the address and how to change it. */
export async function connectClient(
  config = clientConfig(),
  /**
   * a command that follows a run through outages (`start`) says "server unreachable, retrying" itself: the SDK's
   * own retries (10 attempts, about 20 s in all) would keep it silent for that long, so they stop after 4 (under 1 s)
   */
  options: { followsOutages?: boolean } = {},
): Promise<Client> {
  // loaded here, not with this module: a quarter of a second that commands reading only the registry never spend
  const { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } = await import('@temporalio/client');
  let connection: Connection;
  try {
    const { tls, apiKey, metadata } = config.connection;
    connection = await Connection.connect({
      address: config.address,
      connectTimeout: '5 seconds',
      ...(options.followsOutages
        ? { interceptors: [makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: 4 }))] }
        : {}),
      ...(tls !== undefined ? { tls } : {}),
      ...(apiKey !== undefined ? { apiKey: apiKey } : {}),
      ...(metadata ? { metadata } : {}),
    });
  } catch (err) {
    const reason = (err as Error).message.split('\n')[0];
    throw new CliError(
      `cannot reach the Temporal server at ${config.address} (TEMPORAL_ADDRESS; ${config.security}): ${reason}. ` +
        'Start one with `lumen server` (or `npm run demo -- --keep`), or point TEMPORAL_ADDRESS at yours.',
      EXIT.usage,
    );
  }
  // with tracing on (lib/telemetry.ts), what the client starts, signals or updates continues the caller's trace
  const interceptors = tracingWanted()
    ? {
        workflow: [
          new (await import('@temporalio/interceptors-opentelemetry')).OpenTelemetryWorkflowClientInterceptor(),
        ],
      }
    : undefined;
  return new Client({ connection, namespace: config.namespace, ...(interceptors ? { interceptors } : {}) });
}

/**
 * A run's page in the Web UI. With a run id it opens on the run's summary and details — for a pipeline, the stage,
 * the gate's verdict check by check, and what a person must do — rather than on the raw event history.
 */
export function workflowUrl(
  config: Pick<ClientConfig, 'uiUrl' | 'namespace'>,
  workflowId: string,
  runId?: string,
): string {
  const base = `${config.uiUrl}/namespaces/${encodeURIComponent(config.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${runId}/user-metadata` : base;
}

/** Run with a client connected only when first asked for, and closed afterwards if it was. */
export async function withLazyClient<T>(fn: (connect: () => Promise<Client>) => Promise<T>): Promise<T> {
  let client: Promise<Client> | undefined;
  try {
    return await fn(() => (client ??= connectClient()));
  } finally {
    if (client) await (await client.catch(() => undefined))?.connection.close();
  }
}

/** Run with a connected client, closing its connection afterwards. */
export async function withClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await connectClient();
  try {
    return await fn(client);
  } finally {
    await client.connection.close();
  }
}

/** How long a command keeps trying through an outage before it gives up (the run itself goes on regardless). */
export const OUTAGE_PATIENCE_MS = 30 * 60_000;

/**
 * Call the server, through outages: while it is out of reach, say so (`waiting` gets the seconds since it went
 * away) and try again with backoff (1 s, doubling to 10 s). Whatever else fails is thrown as it is. After
 * OUTAGE_PATIENCE_MS without the server, a one-line CliError (exit 4) names the address and what to do.
 */
export async function throughOutages<T>(
  address: string,
  call: () => Promise<T>,
  waiting: (seconds: number, reason: string) => void,
  patienceMs = OUTAGE_PATIENCE_MS,
): Promise<T> {
  let since: number | null = null;
  for (let pause = 1000; ; pause = Math.min(pause * 2, 10_000)) {
    try {
      return await call();
    } catch (err) {
      if (!serverUnreachable(err)) throw err;
      since ??= Date.now();
      if (Date.now() - since > patienceMs) {
        throw new CliError(
          `lost the Temporal server at ${address} for ${Math.round((Date.now() - since) / 60_000)} min; ` +
            'what was started goes on there when it is back (see: lumen status <workflow id>)',
          EXIT.usage,
        );
      }
      waiting(Math.round((Date.now() - since) / 1000), (err as Error).message.split('\n')[0]);
      await new Promise((r) => setTimeout(r, pause));
    }
  }
}
