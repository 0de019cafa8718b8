import assert from 'node:assert/strict';
import { labelContract, labelProblem, labelTarget } from '../../lib/labels';
import { parseModelSpec, type ModelSpecInput } from '../../lib/spec';

const base: ModelSpecInput = {
  name: 'labels-test',
  task: 'multiclass',
  source: {
    columns: [
      { name: 'x', type: 'float' },
      { name: 'kind', type: 'string', domain: ['a', 'b', 'c'] },
      { name: 'delay', type: 'float' },
    ],
  },
  label: { kind: 'classes', column: 'kind' },
  features: [{ name: 'x', column: 'x', transform: { kind: 'numeric' } }],
};

describe('labels sent as feedback, judged by the rule the version was trained with', () => {
  it('multiclass: one of the classes the version learned (or declared); anything else is named', () => {
    const learned = labelContract(parseModelSpec(base), ['a', 'b']);
    assert.equal(labelProblem(learned, 'a'), null);
    assert.equal(labelProblem(learned, 'z'), '"z" is not one of the classes (the classes: "a", "b")');
    assert.match(labelProblem(learned, ['a'])!, /\["a"\] is not a label: a label is one value/);
    const declared = labelContract(
      parseModelSpec({ ...base, label: { kind: 'classes', column: 'kind', classes: ['a', 'c'] } }),
      ['a', 'b'],
    );
    assert.equal(labelProblem(declared, 'b'), '"b" is not one of the classes (the classes: "a", "c")');
  });

  it('threshold and regression: a number, or text that spells one; an empty string is not 0', () => {
    const binary = labelContract(
      parseModelSpec({ ...base, task: 'binary', label: { kind: 'threshold', column: 'delay', op: '>', value: 15 } }),
      null,
    );
    assert.equal(labelProblem(binary, 20), null);
    assert.equal(labelProblem(binary, ' 20 '), null);
    assert.equal(labelProblem(binary, 'late'), '"late" is not a number ("delay" is a number; positive when > 15)');
    assert.equal(labelProblem(binary, ''), '"" is not a number ("delay" is a number; positive when > 15)');
    assert.equal(labelProblem(binary, true), 'true is not a number ("delay" is a number; positive when > 15)');
    assert.equal(labelTarget(binary.rule, ''), null, 'Number("") is 0: an empty label once counted as on time');
    assert.equal(labelTarget(binary.rule, '20'), 1);
    const regression = labelContract(
      parseModelSpec({ ...base, task: 'regression', label: { kind: 'value', column: 'delay' } }),
      null,
    );
    assert.equal(labelProblem(regression, 3.5), null);
    assert.equal(labelProblem(regression, 'NaN'), '"NaN" is not a number ("delay" is a number)');
    assert.equal(
      labelProblem(regression, '1e999'),
      '"1e999" is not a number ("delay" is a number)',
      'too large to be one',
    );
  });

  it('oneOf: a value of the label column (its domain, when declared)', () => {
    const spec = parseModelSpec({ ...base, task: 'binary', label: { kind: 'oneOf', column: 'kind', positive: ['a'] } });
    const contract = labelContract(spec, null);
    assert.equal(labelProblem(contract, 'b'), null);
    assert.equal(labelProblem(contract, 'q'), '"q" is not one of the values of "kind" (its values: "a", "b", "c")');
    assert.equal(labelTarget(spec.label, 'a'), 1);
    assert.equal(labelTarget(spec.label, 'b'), 0);
    // a learned domain: the values the version's training batch held; a typo is refused, not read as negative
    const learned = parseModelSpec({
      ...base,
      task: 'binary',
      source: {
        columns: [
          { name: 'x', type: 'float' },
          { name: 'dead', type: 'string', domain: 'learned' },
        ],
      },
      label: { kind: 'oneOf', column: 'dead', positive: ['dead'] },
    });
    assert.equal(labelProblem(labelContract(learned, null), 'daed'), null, 'without the values seen: unknown');
    const seen = labelContract(learned, null, ['alive', 'dead']);
    assert.equal(labelProblem(seen, 'alive'), null);
    assert.equal(labelProblem(seen, 'daed'), '"daed" is not one of the values of "dead" (its values: "alive", "dead")');
  });
});
