import fs from 'node:fs';
import path from 'node:path';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { lumenPaths } from '../config';
import { SpecError } from '../errors';

/**
 * How a Lumen process reaches Kafka: the standard settings of any Kafka client, from the environment, so a worker,
 * `lumen serve`-like scorers and the CLI all read the same ones.
 *
 *   LUMEN_KAFKA_BROKERS          host:port[,host:port…] (default: the broker `lumen kafka` runs, if one runs)
 *   LUMEN_KAFKA_TLS              1: connect with TLS (implied by any of the three files below)
 *   LUMEN_KAFKA_CA_FILE          PEM bundle of the authorities that signed the brokers' certificates
 *   LUMEN_KAFKA_CERT_FILE        PEM client certificate (mutual TLS), with LUMEN_KAFKA_KEY_FILE
 *   LUMEN_KAFKA_SASL_MECHANISM   PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
 *   LUMEN_KAFKA_SASL_USERNAME    and LUMEN_KAFKA_SASL_PASSWORD (or LUMEN_KAFKA_SASL_PASSWORD_FILE)
 */
export interface KafkaConnection {
  brokers: string[];
  tls?: TlsOptions;
  sasl?: { mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; username: string; password: string };
}

const MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;

/** The record `lumen kafka` keeps while its broker runs. */
export function brokerRecordFile(home = lumenPaths().home): string {
  return path.join(home, 'kafka', 'broker.json');
}

function runningLocalBroker(): string | undefined {
  try {
    const record = JSON.parse(fs.readFileSync(brokerRecordFile(), 'utf8')) as { bootstrap: string; pid: number };
    process.kill(record.pid, 0); // throws when the process is gone
    return record.bootstrap;
  } catch {
    return undefined;
  }
}

function readFileSetting(env: NodeJS.ProcessEnv, name: string): Buffer | undefined {
  const file = env[name];
  if (!file) return undefined;
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new SpecError(`${name}=${file} cannot be read: ${(err as Error).message}`, { setting: name });
  }
}

/** The connection the environment describes; a setting that cannot work is refused by name. */
export function kafkaConnection(env: NodeJS.ProcessEnv = process.env): KafkaConnection {
  const listed = env.LUMEN_KAFKA_BROKERS ?? runningLocalBroker();
  if (!listed) {
    throw new SpecError(
      'no Kafka brokers: set LUMEN_KAFKA_BROKERS=host:port[,host:port…], or start a local broker with `lumen kafka`',
    );
  }
  const brokers = listed
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  for (const b of brokers) {
    const port = Number(b.slice(b.lastIndexOf(':') + 1));
    if (!b.includes(':') || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new SpecError(`LUMEN_KAFKA_BROKERS: "${b}" is not host:port`, { setting: 'LUMEN_KAFKA_BROKERS' });
    }
  }
  if (brokers.length === 0) throw new SpecError('LUMEN_KAFKA_BROKERS names no broker');
  const ca = readFileSetting(env, 'LUMEN_KAFKA_CA_FILE');
  const cert = readFileSetting(env, 'LUMEN_KAFKA_CERT_FILE');
  const key = readFileSetting(env, 'LUMEN_KAFKA_KEY_FILE');
  if (Boolean(cert) !== Boolean(key)) {
    throw new SpecError('LUMEN_KAFKA_CERT_FILE and LUMEN_KAFKA_KEY_FILE go together (mutual TLS needs both)');
  }
  const tlsOn = env.LUMEN_KAFKA_TLS === '1' || env.LUMEN_KAFKA_TLS === 'true' || Boolean(ca || cert);
  const connection: KafkaConnection = { brokers };
  if (tlsOn) connection.tls = { ...(ca ? { ca } : {}), ...(cert ? { cert, key } : {}) };
  const mechanism = env.LUMEN_KAFKA_SASL_MECHANISM;
  if (mechanism) {
    if (!(MECHANISMS as readonly string[]).includes(mechanism)) {
      throw new SpecError(`LUMEN_KAFKA_SASL_MECHANISM=${mechanism}: Lumen speaks ${MECHANISMS.join(', ')}`);
    }
    const username = env.LUMEN_KAFKA_SASL_USERNAME;
    const password =
      env.LUMEN_KAFKA_SASL_PASSWORD ?? readFileSetting(env, 'LUMEN_KAFKA_SASL_PASSWORD_FILE')?.toString('utf8').trim();
    if (!username || !password) {
      throw new SpecError(
        `LUMEN_KAFKA_SASL_MECHANISM=${mechanism} needs LUMEN_KAFKA_SASL_USERNAME and LUMEN_KAFKA_SASL_PASSWORD (or _FILE)`,
      );
    }
    connection.sasl = { mechanism: mechanism as (typeof MECHANISMS)[number], username, password };
  }
  return connection;
}

/** The options every client of one connection shares. */
export function clientOptions(connection: KafkaConnection, clientId: string) {
  return {
    clientId,
    bootstrapBrokers: connection.brokers,
    ...(connection.tls ? { tls: connection.tls } : {}),
    ...(connection.sasl ? { sasl: connection.sasl } : {}),
    // a broker restarting takes seconds: keep trying for about a minute before a client gives up
    retries: 30,
    retryDelay: 1000,
    connectTimeout: 5000,
  };
}

/** The connection as a person reads it (no secrets). */
export function describeConnection(connection: KafkaConnection): string {
  const security = [connection.tls ? 'TLS' : null, connection.sasl ? `SASL ${connection.sasl.mechanism}` : null]
    .filter(Boolean)
    .join(' + ');
  return `${connection.brokers.join(',')}${security ? ` (${security})` : ''}`;
}
