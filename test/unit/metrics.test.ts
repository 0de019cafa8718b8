import assert from 'node:assert/strict';
import {
  auc,
  binaryAccuracy,
  binaryLogLoss,
  binaryMetrics,
  multiclassMetrics,
  regressionMetrics,
} from '../../lib/metrics';

// Expected values are computed by hand below; the first AUC and the regression case are the examples from the
// scikit-learn documentation of roc_auc_score and r2_score/mean_squared_error.
describe('metrics', () => {
  it('AUC is the probability a positive outranks a negative', () => {
    assert.equal(auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 0.75);
    // ties count one half: pairs (0.5>0.5: ½) (0.5>0.2: 1) (0.9>0.5: 1) (0.9>0.2: 1) → 3.5 / 4
    assert.equal(auc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]), 0.875);
    assert.equal(auc([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1]), 1);
    assert.ok(Number.isNaN(auc([1, 1], [0.2, 0.3])), 'AUC is undefined with one class');
  });

  it('binary accuracy and log loss', () => {
    assert.equal(binaryAccuracy([1, 0, 1, 0], [0.9, 0.2, 0.4, 0.6]), 0.5);
    const expected = -(Math.log(0.9) + Math.log(0.8)) / 2; // 0.16425203…
    assert.ok(Math.abs(binaryLogLoss([1, 0], [0.9, 0.2]) - expected) < 1e-12);
    assert.ok(Number.isFinite(binaryLogLoss([1, 0], [0, 1])), 'probabilities are clipped, never log(0)');
    assert.equal(binaryMetrics([1, 0, 0, 0], [0.9, 0.1, 0.2, 0.3]).positiveRate, 0.25);
  });

  it('multiclass accuracy, macro-F1 and log loss', () => {
    const p = [0.7, 0.2, 0.1, 0.1, 0.8, 0.1, 0.2, 0.5, 0.3, 0.1, 0.1, 0.8];
    const m = multiclassMetrics([0, 1, 2, 2], p, 3);
    assert.equal(m.accuracy, 0.75);
    // per-class F1: class 0 = 1, class 1 = 2·1/(1+2) = 2/3, class 2 = 2·1/(2+1) = 2/3
    assert.ok(Math.abs(m.macroF1 - (1 + 2 / 3 + 2 / 3) / 3) < 1e-12);
    const ll = -(Math.log(0.7) + Math.log(0.8) + Math.log(0.3) + Math.log(0.8)) / 4;
    assert.ok(Math.abs(m.logLoss - ll) < 1e-7);
  });

  it('regression RMSE, MAE and R²', () => {
    const m = regressionMetrics([3, -0.5, 2, 7], [2.5, 0, 2, 8]);
    assert.ok(Math.abs(m.rmse - Math.sqrt(0.375)) < 1e-12);
    assert.equal(m.mae, 0.5);
    assert.ok(Math.abs(m.r2 - 0.9486081370449679) < 1e-12);
  });
});
