import { Client, Connection } from '@temporalio/client';
import { PIPELINE_QUEUE, TRAINING_QUEUE } from '../workflows/definitions';
import { CliError, EXIT } from './errors';

export interface ClientConfig {
  address: string;
  namespace: string;
  /** base URL of the Temporal Web UI, for links printed to people */
  uiUrl: string;
}

export function clientConfig(): ClientConfig {
  return {
    address: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
    namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
    uiUrl: process.env.LUMEN_UI_URL ?? 'http://localhost:8233',
  };
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
export async function connectClient(config = clientConfig()): Promise<Client> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: config.address, connectTimeout: '5 seconds' });
  } catch (err) {
    const reason = (err as Error).message.split('\n')[0];
    throw new CliError(
      `cannot reach the Temporal server at ${config.address} (TEMPORAL_ADDRESS): ${reason}. ` +
        'Start one with `lumen server` (or `npm run demo -- --keep`), or point TEMPORAL_ADDRESS at yours.',
      EXIT.usage,
    );
  }
  return new Client({ connection, namespace: config.namespace });
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
