import fs from 'node:fs';
import path from 'node:path';
import { lumenPaths } from '../lib/config';
import { brokerRecordFile } from '../lib/stream/connection';
import { kafkaPin, startKafkaBroker } from '../tools/kafka-broker';
import { CliError, parseCount } from '../client/errors';

/**
 * `lumen kafka`: a local Apache Kafka broker (KRaft, one node) for Lumen, in the foreground — its log and topics
 * in LUMEN_HOME/kafka, so events survive a restart — until Ctrl-C. While it runs, Lumen's commands and workers of
 * this home find it without LUMEN_KAFKA_BROKERS.
 */
export async function kafkaCommand(opts: { port: string; controllerPort?: string; partitions: string }): Promise<void> {
  const paths = lumenPaths();
  const port = parseCount(opts.port, '--port');
  const record = brokerRecordFile(paths.home);
  const dataDir = path.dirname(record);
  let broker;
  try {
    broker = await startKafkaBroker({
      dataDir,
      port,
      ...(opts.controllerPort ? { controllerPort: parseCount(opts.controllerPort, '--controller-port') } : {}),
      defaultPartitions: parseCount(opts.partitions, '--partitions'),
    });
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  const ended = new Promise<string>((resolve) => {
    process.on('SIGINT', () => resolve('stopped'));
    process.on('SIGTERM', () => resolve('stopped'));
    broker.process.once('exit', (code) => resolve(`the broker exited (${code}); see ${broker.logFile}`));
  });
  fs.writeFileSync(record, JSON.stringify({ bootstrap: broker.bootstrap, pid: process.pid }, null, 2));
  console.log(`Kafka ${kafkaPin().version} broker (KRaft) at ${broker.bootstrap}`);
  console.log(`state in ${dataDir}, log ${broker.logFile}`);
  console.log(
    `Lumen processes of this home find it while it runs; elsewhere set LUMEN_KAFKA_BROKERS=${broker.bootstrap}. Ctrl-C stops it (its topics stay)`,
  );
  const why = await ended;
  fs.rmSync(record, { force: true });
  await broker.stop();
  console.log(why);
}
