import assert from 'node:assert/strict';
import path from 'node:path';
import { SpecError } from '../../lib/errors';
import { bestTrial, describeTrial, searchTrials, searchValidationFraction, trialSpec } from '../../lib/model/search';
import { loadModelSpec, parseModelSpec, specHash, type ModelSpec } from '../../lib/spec';
import { repoRoot } from '../support/env';

const base = loadModelSpec(path.join(repoRoot, 'examples', 'models', 'seattle-weather.json'));
const withSearch = (search: unknown, training: object = {}): ModelSpec =>
  parseModelSpec({ ...base, training: { ...base.training, ...training, search } });

describe('hyperparameter search: the trials', () => {
  it('a grid lists every combination, the last declared setting varying fastest', () => {
    const spec = withSearch({ space: { hiddenUnits: [[8], [16, 8]], learningRate: [0.01, 0.001, 0.0001] } });
    const trials = searchTrials(spec.training);
    assert.deepEqual(
      trials.map((t) => describeTrial(t.options)),
      [
        'hiddenUnits [8], learningRate 0.01',
        'hiddenUnits [8], learningRate 0.001',
        'hiddenUnits [8], learningRate 0.0001',
        'hiddenUnits [16,8], learningRate 0.01',
        'hiddenUnits [16,8], learningRate 0.001',
        'hiddenUnits [16,8], learningRate 0.0001',
      ],
    );
    assert.deepEqual(
      trials.map((t) => t.index),
      [0, 1, 2, 3, 4, 5],
    );
  });

  it('a random search draws distinct combinations, the same ones for the same seed and others for another', () => {
    const space = { batchSize: [32, 64, 128, 256], learningRate: [0.1, 0.01, 0.001, 0.0001], epochs: [2, 4, 8] };
    const draw = (seed: number) =>
      searchTrials(withSearch({ method: 'random', trials: 10, space }, { seed }).training).map((t) =>
        describeTrial(t.options),
      );
    const a = draw(1);
    assert.equal(a.length, 10);
    assert.equal(new Set(a).size, 10, 'no combination twice');
    assert.deepEqual(draw(1), a, 'seeded');
    assert.notDeepEqual(draw(2), a);
    for (const line of a) assert.match(line, /^epochs (2|4|8), batchSize (32|64|128|256), learningRate 0\.0*1$/);
    // asking for more trials than there are combinations tries each once
    const all = searchTrials(withSearch({ method: 'random', trials: 64, space: { epochs: [1, 2, 3] } }).training);
    assert.deepEqual(all.map((t) => t.options.epochs).sort(), [1, 2, 3]);
  });

  it("a trial's spec is the declared one with the trial's settings and no search", () => {
    const spec = withSearch({ space: { hiddenUnits: [[8], [16]] } });
    const [, second] = searchTrials(spec.training);
    const trial = trialSpec(spec, second);
    assert.deepEqual(trial.training.hiddenUnits, [16]);
    assert.equal('search' in trial.training, false);
    assert.equal(trial.training.seed, spec.training.seed, 'every trial starts from the same seed');
    assert.equal(specHash(trial), specHash(parseModelSpec(trial)), 'a valid spec of its own');
  });

  it('trials are compared on early stopping’s validation rows, else on the declared or default share', () => {
    assert.equal(searchValidationFraction(withSearch({ space: { epochs: [1, 2] } }).training), 0.1);
    assert.equal(
      searchValidationFraction(withSearch({ space: { epochs: [1, 2] }, validationFraction: 0.3 }).training),
      0.3,
    );
    assert.equal(
      searchValidationFraction(
        withSearch({ space: { epochs: [1, 2] } }, { earlyStopping: { validationFraction: 0.2 } }).training,
      ),
      0.2,
    );
  });

  it('the lowest validation loss wins, the first of equals; failed trials never do', () => {
    const r = (index: number, validationLoss: number | null, error?: string) => ({
      index,
      options: {},
      validationLoss,
      ...(error ? { error } : {}),
    });
    assert.equal(bestTrial([r(0, 0.5), r(1, 0.3), r(2, 0.3), r(3, 0.4)])?.index, 1);
    assert.equal(bestTrial([r(0, null, 'boom'), r(1, 0.9)])?.index, 1);
    assert.equal(bestTrial([r(0, NaN), r(1, null, 'boom')]), null);
  });

  it('a search that cannot run is refused with the field and the reason', () => {
    const refused = (search: unknown, expect: RegExp, training: object = {}) =>
      assert.throws(
        () => withSearch(search, training),
        (err: unknown) => err instanceof SpecError && expect.test(err.message),
      );
    refused({ space: {} }, /training\.search\.space: declare at least one setting to search over/);
    refused({ method: 'random', space: { epochs: [1, 2] } }, /training\.search\.trials: a random search needs/);
    refused({ trials: 2, space: { epochs: [1, 2] } }, /trials is for "random"/);
    refused(
      {
        space: {
          epochs: [1, 2, 3, 4, 5, 6, 7, 8],
          learningRate: [0.1, 0.01, 0.001, 0.0001, 0.2, 0.02, 0.002, 0.0002, 1],
        },
      },
      /a grid of 72 combinations is more than 64 trials/,
    );
    refused({ space: { learningRate: [0] } }, /training\.search\.space\.learningRate\.0/);
    refused({ space: { hiddenUnits: [8] } }, /training\.search\.space\.hiddenUnits\.0/);
    refused(
      { space: { epochs: [1, 2] }, validationFraction: 0.3 },
      /compared on early stopping's validation rows \(0\.2\)/,
      { earlyStopping: { validationFraction: 0.2 } },
    );
  });
});
