import assert from 'node:assert/strict';
import { reportTable } from '../../cli/monitor-commands';
import { table } from '../../client/output';
import { EXIT } from '../../client/errors';
import { exitFor } from '../../cli/progress';

/** What the CLI prints is read by people: every value sits under its own column's name. */
describe('CLI tables', () => {
  it('refuse a row with more or fewer cells than the header', () => {
    assert.throws(() => table(['a', 'b'], [['1', '2', '3']]), /row 0 has 3 cells for 2 columns \(a, b\)/);
    assert.throws(() => table(['a', 'b'], [['1', '2'], ['1']]), /row 1 has 1 cells/);
    assert.match(table(['a', 'b'], [['1', null]]), /^a\s+b\n1\s+–$/);
  });

  it('`lumen monitor status`: the refused rate under "refused" and p99 under "p99 ms"', () => {
    const text = reportTable([
      {
        id: 7,
        at: '2026-12-06T00:00:00.000Z',
        from: '2026-12-05T23:55:00.000Z',
        to: '2026-12-06T00:00:00.000Z',
        champion: 2,
        predictions: 1000,
        labelled: 400,
        unusualRate: 0.01,
        refusedRate: 0.125,
        driftedShare: 0.5,
        championError: 0.2,
        p99: 3.25,
        findings: [],
        report: { uri: 'file:///r.json', sha256: 'a'.repeat(64), bytes: 1 },
      },
    ]);
    const [head, row] = text.split('\n').map((line) => line.split(/\s{2,}/));
    assert.equal(head.length, row.length, text);
    const cell = (name: string) => row[head.indexOf(name)];
    assert.equal(cell('refused'), '12.5%');
    assert.equal(cell('p99 ms'), '3.3');
    assert.equal(cell('unusual'), '1.0%');
    assert.equal(cell('findings'), 'none');
  });
});

describe('start exit codes', () => {
  it('a run that left no new champion has an exit code of its own, apart from a promotion', () => {
    assert.equal(exitFor('promoted'), EXIT.ok);
    assert.equal(exitFor('duplicate'), EXIT.ok);
    for (const outcome of ['registered', 'rejected', 'not-approved', 'discarded'] as const) {
      assert.equal(exitFor(outcome), 5, outcome);
    }
    assert.equal(exitFor('load-check-failed'), EXIT.failed);
  });
});
