import assert from 'node:assert/strict';
import { ServingMetrics } from '../../serve/metrics';
import type { PredictionLog, PredictionLogStats } from '../../lib/serving/prediction-log';

describe('serving metrics: the prediction log', () => {
  it('exposes what the log counted since start as counters that grow by what each scrape finds new', async () => {
    const stats: PredictionLogStats = {
      pending: 7,
      dropped: 0,
      written: 100,
      segments: 1,
      failedFlushes: 0,
      recovered: 40,
      mergedSegments: 0,
      failedMerges: 0,
    };
    const log = { current: () => ({ ...stats }) } as unknown as PredictionLog;
    const metrics = new ServingMetrics(log);
    const scrape = async (): Promise<Map<string, { type: string; value: number }>> =>
      new Map(
        (await metrics.registry.getMetricsAsJSON())
          .filter((m) => m.name.startsWith('lumen_prediction_log_'))
          .map((m) => [m.name, { type: String(m.type), value: m.values[0]?.value ?? 0 }]),
      );

    const first = await scrape();
    assert.deepEqual(first.get('lumen_prediction_log_pending'), { type: 'gauge', value: 7 });
    assert.deepEqual(first.get('lumen_prediction_log_written_total'), { type: 'counter', value: 100 });
    assert.deepEqual(first.get('lumen_prediction_log_recovered_total'), { type: 'counter', value: 40 });

    Object.assign(stats, { pending: 2, written: 350, dropped: 3 });
    const second = await scrape();
    assert.equal(second.get('lumen_prediction_log_pending')!.value, 2, 'pending is a level, not a count');
    assert.equal(second.get('lumen_prediction_log_written_total')!.value, 350);
    assert.equal(second.get('lumen_prediction_log_dropped_total')!.value, 3);
    assert.equal((await scrape()).get('lumen_prediction_log_written_total')!.value, 350, 'a scrape adds nothing twice');
    const names = [...second.keys()].sort();
    assert.deepEqual(names, [
      'lumen_prediction_log_dropped_total',
      'lumen_prediction_log_failed_flushes_total',
      'lumen_prediction_log_failed_merges_total',
      'lumen_prediction_log_merged_segments_total',
      'lumen_prediction_log_pending',
      'lumen_prediction_log_recovered_total',
      'lumen_prediction_log_written_total',
    ]);
  });
});
