/**
 * A serving process's prediction log, for crash tests: it logs ten records a turn, as fast as it can, and prints
 * the ids of each turn once they are written ahead (the moment a server would answer them). Killed by the test.
 *   node --import tsx test/support/log-writer.ts <root> <fsync policy>
 */
import { DEFAULT_LOG_OPTIONS, PredictionLog, type PredictionRecord } from '../../lib/serving/prediction-log';
import type { FsyncPolicy } from '../../lib/serving/log-wal';

async function run(): Promise<void> {
  const [root, fsync] = process.argv.slice(2);
  const log = new PredictionLog(root, { ...DEFAULT_LOG_OPTIONS, flushEveryMs: 300, fsync: fsync as FsyncPolicy });
  log.start();
  for (let turn = 0; ; turn++) {
    const records: PredictionRecord[] = Array.from({ length: 10 }, (_, i) => ({
      id: `${process.pid}-${turn}-${i}`,
      model: 'm',
      version: 1,
      arm: 'champion',
      at: Date.now(),
      latencyMs: 0.1,
      input: { turn, i },
      output: { probability: 0.5 },
      score: 0.5,
      predicted: null,
      flags: [],
    }));
    await log.append(records);
    process.stdout.write(`${records.map((r) => r.id).join('\n')}\n`);
  }
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
