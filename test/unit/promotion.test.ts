import assert from 'node:assert/strict';
import { decidePromotion } from '../../lib/promotion';
import { parseModelSpec, type ModelSpecInput } from '../../lib/spec';

const base: ModelSpecInput = {
  name: 'p',
  task: 'binary',
  source: {
    columns: [
      { name: 'x', type: 'float' },
      { name: 'y', type: 'integer' },
    ],
  },
  label: { kind: 'threshold', column: 'y', op: '>', value: 0 },
  features: [{ name: 'x', column: 'x', transform: { kind: 'numeric' } }],
};

describe('promotion decision', () => {
  it('the first model becomes champion', () => {
    const d = decidePromotion(parseModelSpec(base), { auc: 0.6 }, null);
    assert.equal(d.promote, true);
    assert.match(d.reason, /first model/);
  });

  it('a candidate must beat the champion on the primary metric, by the required margin', () => {
    const spec = parseModelSpec({ ...base, promotion: { minImprovement: 0.01 } });
    assert.equal(decidePromotion(spec, { auc: 0.705 }, { version: 3, metrics: { auc: 0.7 } }).promote, false);
    assert.equal(decidePromotion(spec, { auc: 0.72 }, { version: 3, metrics: { auc: 0.7 } }).promote, true);
    assert.equal(decidePromotion(spec, { auc: 0.69 }, { version: 3, metrics: { auc: 0.7 } }).promote, false);
  });

  it('lower is better for regression RMSE', () => {
    const spec = parseModelSpec({ ...base, task: 'regression', label: { kind: 'value', column: 'y' } });
    assert.equal(decidePromotion(spec, { rmse: 2 }, { version: 1, metrics: { rmse: 3 } }).promote, true);
    assert.equal(decidePromotion(spec, { rmse: 4 }, { version: 1, metrics: { rmse: 3 } }).promote, false);
  });

  it('a candidate with an undefined metric is never promoted', () => {
    assert.equal(decidePromotion(parseModelSpec(base), { auc: NaN }, null).promote, false);
  });
});
