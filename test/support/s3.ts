import fs from 'node:fs';
import S3rver from 's3rver';

/** The credentials the local S3 server accepts (it checks signatures, so a client must sign with these). */
export const S3_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

export interface LocalS3 {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  /** LUMEN_ARTIFACTS_URL for a bucket and prefix on this server */
  url(bucket: string, prefix: string): string;
  /** the folder the server keeps its objects in */
  directory: string;
  close(): Promise<void>;
}

/**
 * A real S3 protocol server (s3rver: the S3 REST API over a folder, signatures checked) on a free loopback port,
 * with the given buckets created. The AWS SDK talks to it exactly as to any S3-compatible store.
 */
export async function startLocalS3(directory: string, buckets: string[]): Promise<LocalS3> {
  fs.mkdirSync(directory, { recursive: true });
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name, configs: [] })),
  });
  const address = await server.run();
  const endpoint = `http://127.0.0.1:${address.port}`;
  return {
    endpoint,
    directory,
    url: (bucket, prefix) => `s3://${bucket}/${prefix}?endpoint=${encodeURIComponent(endpoint)}&region=us-east-1`,
    close: () => server.close(),
  };
}
