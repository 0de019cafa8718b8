import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { SEARCH_ATTRIBUTES, searchAttributeTypes } from '../../workflows/definitions';
import { repoRoot } from '../support/env';

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string | number>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  networks?: string[];
}

// No Docker engine runs on the build machines, so the deployment file is checked structurally.
describe('docker-compose.yml', () => {
  const compose = parse(fs.readFileSync(path.join(repoRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
    services: Record<string, Service>;
    volumes: Record<string, unknown>;
    networks: Record<string, unknown>;
  };
  const s = compose.services;

  it('has the Temporal stack on PostgreSQL, the UI and both Lumen workers', () => {
    assert.deepEqual(Object.keys(s).sort(), [
      'grafana',
      'kafka',
      'lumen-pipeline-worker',
      'lumen-serve',
      'lumen-training-worker',
      'minio',
      'minio-bucket',
      'postgresql',
      'prometheus',
      'temporal',
      'temporal-admin-tools',
      'temporal-create-namespace',
      'temporal-ui',
    ]);
    assert.equal(s.temporal.environment?.DB, 'postgres12');
    assert.equal(s.temporal.environment?.POSTGRES_SEEDS, 'postgresql');
  });

  it('pins every image and never uses Alpine for Node', () => {
    for (const [name, svc] of Object.entries(s)) {
      if (svc.build) continue;
      assert.ok(
        svc.image && /:(RELEASE\.|v)?[0-9][\w.-]*$/.test(svc.image),
        `${name} image "${svc.image}" is not pinned to a version`,
      );
    }
    const dockerfile = fs.readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');
    const from = /^FROM\s+(\S+)/m.exec(dockerfile)?.[1] ?? '';
    assert.match(from, /^node:20-/);
    assert.doesNotMatch(from, /alpine/);
  });

  it('exposes the frontend on 7233 and the Web UI on 8233', () => {
    assert.ok(s.temporal.ports?.includes('7233:7233'));
    assert.ok(s['temporal-ui'].ports?.includes('8233:8080'));
    assert.equal(s['temporal-ui'].environment?.TEMPORAL_ADDRESS, 'temporal:7233');
  });

  it('starts in order: database → schema job → server → namespace job → workers', () => {
    assert.deepEqual(s['temporal-admin-tools'].depends_on, { postgresql: { condition: 'service_healthy' } });
    assert.deepEqual(s.temporal.depends_on, {
      'temporal-admin-tools': { condition: 'service_completed_successfully' },
    });
    assert.deepEqual(s['temporal-create-namespace'].depends_on, { temporal: { condition: 'service_healthy' } });
    assert.ok(s.postgresql.healthcheck && s.temporal.healthcheck);
    for (const worker of ['lumen-pipeline-worker', 'lumen-training-worker']) {
      assert.deepEqual(s[worker].depends_on, {
        temporal: { condition: 'service_healthy' },
        'temporal-create-namespace': { condition: 'service_completed_successfully' },
        'minio-bucket': { condition: 'service_completed_successfully' },
      });
    }
  });

  it('runs one worker per task queue, sharing only PostgreSQL, Temporal and the S3 artifact store', () => {
    assert.deepEqual(s['lumen-pipeline-worker'].command, ['dist/worker/main.js', '--queues', 'pipeline']);
    assert.deepEqual(s['lumen-training-worker'].command, ['dist/worker/main.js', '--queues', 'training']);
    for (const worker of ['lumen-pipeline-worker', 'lumen-training-worker']) {
      assert.equal(s[worker].environment?.TEMPORAL_ADDRESS, 'temporal:7233');
      assert.equal(s[worker].environment?.LUMEN_HOME, '/data/lumen');
      // sources only from the read-only data folder and the home
      assert.equal(s[worker].environment?.LUMEN_SOURCE_ROOTS, '/data/sources:/data/lumen');
      assert.ok(s[worker].volumes?.includes('./data:/data/sources:ro'), `${worker} mounts ./data read-only`);
      // artifacts in the bucket the minio-bucket job creates, on the minio service, with credentials for it
      const artifacts = new URL(String(s[worker].environment?.LUMEN_ARTIFACTS_URL));
      assert.deepEqual([artifacts.protocol, artifacts.hostname], ['s3:', 'lumen']);
      assert.equal(artifacts.searchParams.get('endpoint'), 'http://minio:9000');
      assert.equal(s[worker].environment?.AWS_ACCESS_KEY_ID, s.minio.environment?.MINIO_ROOT_USER);
      assert.equal(s[worker].environment?.AWS_SECRET_ACCESS_KEY, s.minio.environment?.MINIO_ROOT_PASSWORD);
      // the registry on the deployment's PostgreSQL, in the database the schema job creates
      const url = new URL(String(s[worker].environment?.LUMEN_REGISTRY_URL));
      assert.deepEqual([url.protocol, url.hostname, url.pathname], ['postgres:', 'postgresql', '/lumen']);
    }
    assert.match(
      fs.readFileSync(path.join(repoRoot, 'deploy', 'temporal', 'setup-schema.sh'), 'utf8'),
      /for db in temporal temporal_visibility lumen; do/,
    );
    // the image compiles worker/main.ts into dist/ (Dockerfile: set-up after the sources are copied)
    assert.ok(fs.existsSync(path.join(repoRoot, 'worker', 'main.ts')));
    const dockerfile = fs.readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');
    assert.ok(dockerfile.indexOf('COPY . .') < dockerfile.lastIndexOf('RUN node tools/setup.mjs'), 'built after COPY');
    assert.ok('minio-data' in compose.volumes && 'postgresql-data' in compose.volumes);
    const bucketScript = fs.readFileSync(path.join(repoRoot, 'deploy', 'minio', 'create-bucket.sh'), 'utf8');
    assert.match(bucketScript, /mc mb --ignore-existing lumen\/lumen\b/, 'the job creates the bucket the URL names');
    assert.match(bucketScript, /mc alias set lumen http:\/\/minio:9000/);
    // no state on a shared volume, except the prediction log the serving instances write and the monitors read
    const mounts = new Map<string, string[]>();
    for (const [name, svc] of Object.entries(s)) {
      for (const v of svc.volumes ?? []) {
        const source = v.split(':')[0];
        if (!source.startsWith('./')) mounts.set(source, [...(mounts.get(source) ?? []), name]);
      }
    }
    for (const [volume, users] of mounts) {
      const allowed = volume === 'lumen-predictions' ? ['lumen-pipeline-worker', 'lumen-serve'] : [users[0]];
      assert.deepEqual(users.sort(), allowed.sort(), `volume ${volume} is mounted by ${users.join(', ')}`);
    }
    assert.ok(!s['lumen-training-worker'].volumes?.some((v) => !v.startsWith('./')), 'training shares no volume');
  });

  it('runs the Kafka broker Lumen is tested with, in KRaft mode, reachable by the workers and the host', () => {
    const pins = JSON.parse(fs.readFileSync(path.join(repoRoot, 'tools', 'toolchain.json'), 'utf8')) as {
      kafka: { version: string; image: string };
    };
    const kafka = s.kafka;
    assert.equal(kafka.image, pins.kafka.image);
    assert.ok(pins.kafka.image.endsWith(`:${pins.kafka.version}`), 'the image is the version the tests run');
    const env = kafka.environment!;
    assert.equal(env.KAFKA_PROCESS_ROLES, 'broker,controller');
    assert.equal(env.KAFKA_CONTROLLER_QUORUM_VOTERS, `${env.KAFKA_NODE_ID}@kafka:9093`);
    // every advertised listener is one the broker listens on, with a security protocol
    const listeners = new Map(
      String(env.KAFKA_LISTENERS)
        .split(',')
        .map((l) => [l.split('://')[0], l.split(':').pop()]),
    );
    const protocols = new Set(
      String(env.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP)
        .split(',')
        .map((p) => p.split(':')[0]),
    );
    const advertised = String(env.KAFKA_ADVERTISED_LISTENERS).split(',');
    for (const a of advertised) {
      const name = a.split('://')[0];
      assert.equal(listeners.get(name), a.split(':').pop(), `${a} is a listener`);
      assert.ok(protocols.has(name), `${name} has a security protocol`);
    }
    assert.ok(protocols.has(String(env.KAFKA_CONTROLLER_LISTENER_NAMES)));
    // the workers and the server reach it by the name it advertises on their network; the host by the published port
    for (const worker of ['lumen-pipeline-worker', 'lumen-training-worker', 'lumen-serve']) {
      assert.ok(advertised.includes(`PLAINTEXT://${s[worker].environment?.LUMEN_KAFKA_BROKERS}`), worker);
    }
    assert.ok(advertised.includes('HOST://localhost:9094') && kafka.ports?.includes('9094:9094'));
    assert.ok(kafka.volumes?.includes(`kafka-data:${env.KAFKA_LOG_DIRS}`), 'the log on a volume');
    // with artifacts in S3, landed stream batches wait on a volume every pipeline worker mounts
    const staging = String(s['lumen-pipeline-worker'].environment?.LUMEN_STREAM_STAGING);
    assert.ok(s['lumen-pipeline-worker'].volumes?.includes(`lumen-stream-staging:${staging}`));
  });

  it('mounts only files that exist in the repository', () => {
    for (const [name, svc] of Object.entries(s)) {
      for (const v of svc.volumes ?? []) {
        const host = v.split(':')[0];
        if (host.startsWith('./'))
          assert.ok(fs.existsSync(path.join(repoRoot, host)), `${name} mounts missing ${host}`);
      }
    }
  });

  it('registers the same search attributes the workflows set', () => {
    const script = fs.readFileSync(path.join(repoRoot, 'deploy', 'temporal', 'create-namespace.sh'), 'utf8');
    const registered = /for attribute in ([\w: ]+); do/.exec(script)?.[1].trim().split(/\s+/) ?? [];
    const declared = Object.entries(searchAttributeTypes()).map(([name, type]) => `${name}:${type}`);
    assert.deepEqual(registered.sort(), declared.sort());
    assert.equal(declared.length, SEARCH_ATTRIBUTES.length);
  });

  it('serves predictions from the same image and artifact store, with a readiness health check', () => {
    const serve = s['lumen-serve'];
    assert.equal(serve.image, s['lumen-pipeline-worker'].image, 'the image the workers build');
    assert.ok(serve.build);
    assert.deepEqual(serve.command?.slice(0, 2), ['bin/lumen.js', 'serve']);
    assert.ok(serve.command?.includes('0.0.0.0'), 'listens beyond the container');
    assert.ok(serve.ports?.includes('8080:8080'));
    assert.ok(serve.volumes?.includes('lumen-predictions:/data/lumen/predictions'));
    assert.ok(s['lumen-pipeline-worker'].volumes?.includes('lumen-predictions:/data/lumen/predictions'));
    assert.equal(serve.environment?.LUMEN_ARTIFACTS_URL, s['lumen-pipeline-worker'].environment?.LUMEN_ARTIFACTS_URL);
    assert.equal(serve.environment?.LUMEN_REGISTRY_URL, s['lumen-pipeline-worker'].environment?.LUMEN_REGISTRY_URL);
    assert.match(JSON.stringify(serve.healthcheck), /\/readyz/);
    assert.ok(fs.existsSync(path.join(repoRoot, 'bin', 'lumen.js')));
  });

  it('puts every service on the one network', () => {
    for (const [name, svc] of Object.entries(s)) assert.deepEqual(svc.networks, ['temporal-network'], name);
    assert.ok('temporal-network' in compose.networks);
  });
});
