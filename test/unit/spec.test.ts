import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { SpecError } from '../../lib/errors';
import { loadModelSpec, parseModelSpec, specHash } from '../../lib/spec';
import { repoRoot } from '../support/env';

const flightsFile = path.join(repoRoot, 'examples', 'models', 'flights-delay.json');

function expectSpecError(value: unknown, ...fragments: string[]): void {
  assert.throws(
    () => parseModelSpec(value),
    (err: unknown) => {
      assert.ok(err instanceof SpecError, `expected SpecError, got ${String(err)}`);
      for (const f of fragments) assert.ok(err.message.includes(f), `"${f}" not in: ${err.message}`);
      return true;
    },
  );
}

describe('model spec', () => {
  it('the example specs parse, with defaults filled in', () => {
    const names = fs.readdirSync(path.join(repoRoot, 'examples', 'models')).map((f) => path.basename(f, '.json'));
    assert.ok(names.length >= 6 && names.includes('flights-delay-crossed'));
    for (const name of names) {
      const spec = loadModelSpec(path.join(repoRoot, 'examples', 'models', `${name}.json`));
      assert.equal(spec.name, name);
      assert.ok(spec.training.epochs >= 1);
    }
  });

  it('hashes the defaulted spec, so spelling out a default does not change the hash', () => {
    const spec = loadModelSpec(flightsFile);
    const explicit = parseModelSpec({ ...spec, training: { ...spec.training, activation: 'relu' } });
    assert.equal(specHash(explicit), specHash(spec));
    const changed = parseModelSpec({ ...spec, training: { ...spec.training, seed: 1 } });
    assert.notEqual(specHash(changed), specHash(spec));
  });

  it('names every offending field', () => {
    const spec = loadModelSpec(flightsFile);
    expectSpecError(
      { ...spec, task: 'regression' },
      'label.kind',
      'task "regression" needs a label rule of kind value',
    );
    expectSpecError(
      { ...spec, features: [...spec.features, { name: 'x', column: 'altitude', transform: { kind: 'numeric' } }] },
      'features.5.column',
      '"altitude" is not a source column',
    );
    expectSpecError(
      { ...spec, features: [{ name: 'o', column: 'origin', transform: { kind: 'hourOfDay' } }] },
      'transform "hourOfDay" cannot apply to column "origin" of type string',
    );
    expectSpecError({ ...spec, label: { ...spec.label, column: 'origin' } }, 'needs a numeric column');
    expectSpecError({ ...spec, name: 'Flights Delay' }, 'name:');
    expectSpecError({ ...spec, training: { ...spec.training, epochs: 0 } }, 'training.epochs');
    expectSpecError({ ...spec, surprise: true }, 'surprise');
  });

  it('a missing or unparsable spec file is a SpecError naming the file', () => {
    assert.throws(() => loadModelSpec('/nonexistent/spec.json'), /cannot read model spec \/nonexistent\/spec.json/);
  });
});
