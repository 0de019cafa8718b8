import assert from 'node:assert/strict';
import { newPredictionId, PREDICTION_ID, predictionTime } from '../../lib/serving/ids';

describe('prediction ids', () => {
  it('carry their time, sort by it, and increase within one millisecond', () => {
    const at = Date.UTC(2026, 10, 26, 8, 30, 0, 123);
    const same = Array.from({ length: 1000 }, () => newPredictionId(at));
    for (const id of same) assert.match(id, PREDICTION_ID);
    assert.equal(new Set(same).size, 1000, 'unique');
    assert.deepEqual([...same].sort(), same, 'increasing within the millisecond');
    assert.equal(predictionTime(same[0]), at);
    const later = newPredictionId(at + 1);
    assert.ok(later > same[same.length - 1]);
    assert.equal(predictionTime(later), at + 1);
    // the ULID range: 48 bits of milliseconds
    assert.equal(predictionTime(newPredictionId(2 ** 48 - 1)), 2 ** 48 - 1);
  });
});
