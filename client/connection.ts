import { Client, Connection } from '@temporalio/client';

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

export async function connectClient(config = clientConfig()): Promise<Client> {
  const connection = await Connection.connect({ address: config.address });
  return new Client({ connection, namespace: config.namespace });
}

export function workflowUrl(
  config: Pick<ClientConfig, 'uiUrl' | 'namespace'>,
  workflowId: string,
  runId?: string,
): string {
  const base = `${config.uiUrl}/namespaces/${encodeURIComponent(config.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${runId}/history` : base;
}
