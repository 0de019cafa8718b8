import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ServingMetrics } from '../../serve/metrics';
import { WorkerMetrics } from '../../worker/metrics';
import { repoRoot } from '../support/env';

interface Panel {
  title: string;
  datasource?: { uid: string };
  targets?: { expr: string; datasource?: { uid: string } }[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; query: { query: string } }[] };
}

const dir = path.join(repoRoot, 'deploy', 'grafana', 'dashboards');
const dashboards = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({ file: f, board: JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Dashboard }));

/**
 * Every series name a Lumen process exposes, serving's and a worker's, with its type; a histogram's three series are
 * counters (its buckets, sum and count only grow).
 */
async function exportedTypes(): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  for (const registry of [new ServingMetrics(null).registry, new WorkerMetrics().registry]) {
    for (const m of await registry.getMetricsAsJSON()) {
      names.set(m.name, String(m.type));
      if (String(m.type) === 'histogram')
        for (const s of ['_bucket', '_sum', '_count']) names.set(`${m.name}${s}`, 'counter');
    }
  }
  return names;
}

async function exported(): Promise<Set<string>> {
  return new Set((await exportedTypes()).keys());
}

/** The metric names a PromQL expression reads (identifiers of Lumen, the process, Node), not its functions. */
function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/\b((?:lumen|process|nodejs)_[a-z0-9_]+)\b/g)].map((m) => m[1]);
}

describe('Grafana dashboards (deploy/grafana)', () => {
  it('exist for serving and for the pipeline, each with its panels and queries', () => {
    assert.deepEqual(dashboards.map((d) => d.board.uid).sort(), ['lumen-pipeline', 'lumen-serving']);
    for (const { file, board } of dashboards) {
      assert.ok(board.panels.length >= 8, `${file}: ${board.panels.length} panels`);
      for (const p of board.panels) assert.ok(p.targets?.length, `${file}: "${p.title}" queries nothing`);
    }
  });

  it('query only metrics Lumen exports', async () => {
    const names = await exported();
    for (const { file, board } of dashboards) {
      const queries = [
        ...board.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: p.title, expr: t.expr }))),
        ...board.templating.list.map((v) => ({ where: `variable ${v.name}`, expr: v.query.query })),
      ];
      for (const q of queries) {
        const read = metricsIn(q.expr);
        assert.ok(read.length > 0, `${file}: "${q.where}" names no metric: ${q.expr}`);
        for (const name of read)
          assert.ok(names.has(name), `${file}: "${q.where}" reads ${name}, which nothing exports`);
      }
    }
  });

  it('take rates and increases of counters only, never of a gauge', async () => {
    const types = await exportedTypes();
    for (const { file, board } of dashboards) {
      for (const p of board.panels) {
        for (const t of p.targets ?? []) {
          for (const m of t.expr.matchAll(/\b(?:rate|irate|increase)\(\s*([a-z0-9_]+)/g)) {
            assert.equal(types.get(m[1]), 'counter', `${file}: "${p.title}" takes a rate of ${m[1]}: ${t.expr}`);
          }
        }
      }
    }
  });

  it('chart every Lumen metric family at least once', async () => {
    const charted = new Set(
      dashboards.flatMap(({ board }) =>
        board.panels.flatMap((p) => (p.targets ?? []).flatMap((t) => metricsIn(t.expr))),
      ),
    );
    const families = [...(await exported())].filter((n) => n.startsWith('lumen_') && !/_(bucket|sum|count)$/.test(n));
    for (const family of families) {
      const seen = [family, `${family}_bucket`, `${family}_count`, `${family}_sum`].some((n) => charted.has(n));
      assert.ok(seen, `${family} is on no dashboard`);
    }
  });

  it('read the data source Grafana is provisioned with, from the folder docker-compose.yml mounts', () => {
    const provisioning = path.join(repoRoot, 'deploy', 'grafana', 'provisioning');
    const sources = parse(fs.readFileSync(path.join(provisioning, 'datasources', 'prometheus.yml'), 'utf8')) as {
      datasources: { uid: string; url: string }[];
    };
    const uids = new Set(sources.datasources.map((d) => d.uid));
    for (const { file, board } of dashboards) {
      for (const p of board.panels) {
        assert.ok(uids.has(p.datasource!.uid), `${file}: "${p.title}" reads data source ${p.datasource!.uid}`);
        for (const t of p.targets ?? []) assert.ok(uids.has(t.datasource!.uid));
      }
    }
    const providers = parse(fs.readFileSync(path.join(provisioning, 'dashboards', 'lumen.yml'), 'utf8')) as {
      providers: { options: { path: string } }[];
    };
    const compose = parse(fs.readFileSync(path.join(repoRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
      services: Record<string, { volumes?: string[] }>;
    };
    const mounts = compose.services.grafana.volumes ?? [];
    assert.ok(mounts.includes(`./deploy/grafana/dashboards:${providers.providers[0].options.path}:ro`));
    assert.ok(mounts.includes('./deploy/grafana/provisioning:/etc/grafana/provisioning:ro'));
    assert.equal(sources.datasources[0].url, 'http://prometheus:9090');
  });
});

describe('Prometheus (deploy/prometheus/prometheus.yml)', () => {
  it('scrapes every Lumen process docker-compose.yml runs, where each serves its metrics', () => {
    const config = parse(fs.readFileSync(path.join(repoRoot, 'deploy', 'prometheus', 'prometheus.yml'), 'utf8')) as {
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    const compose = parse(fs.readFileSync(path.join(repoRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
      services: Record<string, { command?: string[]; environment?: Record<string, string | number> }>;
    };
    const targets = config.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets)).sort();
    const expected: string[] = [];
    for (const [name, svc] of Object.entries(compose.services)) {
      const command = svc.command ?? [];
      if (command.includes('serve')) expected.push(`${name}:${command[command.indexOf('--port') + 1]}`);
      if (command.some((c) => c.includes('worker/main.js'))) {
        assert.equal(svc.environment?.LUMEN_METRICS_HOST, '0.0.0.0', `${name} listens beyond its container`);
        assert.ok(svc.environment?.LUMEN_METRICS_PORT, `${name} serves metrics`);
        expected.push(`${name}:${svc.environment?.LUMEN_METRICS_PORT}`);
      }
    }
    assert.deepEqual(targets, expected.sort());
    assert.equal(expected.length, 3, 'the prediction API and both workers');
  });
});
