import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  FileArtifactStore,
  openArtifactStore,
  storeFromConfig,
  uriToPath,
  type ArtifactRef,
  type ArtifactStore,
} from '../../lib/artifacts';
import { parseS3Url, S3ArtifactStore } from '../../lib/artifacts/s3';
import { snapshotSource } from '../../lib/data/snapshot';
import { loadTable } from '../../lib/data/table';
import { loadHoldout, makeCanary } from '../../lib/evaluation/evaluate';
import { scanInbox } from '../../lib/inbox';
import { ArtifactIntegrityError, SourceError, SpecError } from '../../lib/errors';
import { runLoadCheck } from '../../lib/loadcheck';
import { loadModelSpec, parseModelSpec } from '../../lib/spec';
import { latestCheckpoint, trainOnDataset } from '../../lib/training';
import { repoRoot } from '../support/env';
import { S3_CREDENTIALS, startLocalS3, type LocalS3 } from '../support/s3';

describe('artifact store on S3 (a local S3 server)', () => {
  let tmp: string;
  let s3: LocalS3;
  let url: string;
  const saved: Record<string, string | undefined> = {};

  /** A store as a process on another host opens it: its own home and cache, the same bucket. */
  async function host(name: string): Promise<ArtifactStore> {
    const home = path.join(tmp, name);
    return openArtifactStore(
      { home, artifacts: path.join(home, 'artifacts') },
      { ...process.env, LUMEN_ARTIFACTS_URL: url },
    );
  }

  /** Replace an object's bytes behind Lumen's back, as a careless script or a bad disk would. */
  async function overwrite(uri: string, body: string): Promise<void> {
    const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri)!;
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });
    await client.send(new PutObjectCommand({ Bucket: m[1], Key: m[2], Body: body }));
  }

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-s3-'));
    for (const [k, v] of Object.entries(S3_CREDENTIALS)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
    s3 = await startLocalS3(path.join(tmp, 'server'), ['lumen-artifacts']);
    url = s3.url('lumen-artifacts', 'team-a/prod');
  });
  after(async () => {
    await s3.close();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('stores files and directories by content and reads them back on another host, hashed on arrival', async () => {
    const a = await host('a');
    assert.ok(a instanceof S3ArtifactStore);
    const json = await a.putJson('reports', { accuracy: 0.9 });
    assert.match(json.uri, /^s3:\/\/lumen-artifacts\/team-a\/prod\/reports\/[0-9a-f]{64}\.json$/);
    assert.deepEqual(await a.putJson('reports', { accuracy: 0.9 }), json, 'the same bytes give the same reference');

    const dir = a.tempPath('model');
    fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'model.json'), '{"layers":[]}');
    fs.writeFileSync(path.join(dir, 'sub', 'weights.bin'), Buffer.alloc(300_000, 3));
    const model = await a.putDirectory('models/m', dir);
    assert.equal(fs.existsSync(dir), false, 'the finished directory is consumed');
    assert.equal(model.bytes, 300_000 + 13);

    const b = await host('b');
    const jsonAtB = await b.verify(json);
    assert.ok(jsonAtB.startsWith(path.join(tmp, 'b', 'artifacts')), `read from b's own cache, got ${jsonAtB}`);
    assert.deepEqual(JSON.parse(fs.readFileSync(jsonAtB, 'utf8')), { accuracy: 0.9 });
    const modelAtB = await b.verify(model);
    assert.equal(fs.readFileSync(path.join(modelAtB, 'sub', 'weights.bin')).length, 300_000);
    assert.equal(fs.readFileSync(path.join(modelAtB, 'model.json'), 'utf8'), '{"layers":[]}');
  });

  it('refuses an object changed in the bucket, and heals a cached copy changed on the host', async () => {
    const a = await host('c');
    const ref = await a.putJson('reports', { n: 1 });
    await overwrite(ref.uri, '{"n": 2}');
    const fresh = await host('d');
    await assert.rejects(
      fresh.verify(ref),
      (e: unknown) => e instanceof ArtifactIntegrityError && e.message.includes(ref.uri) && /sha256/.test(e.message),
    );
    assert.equal(fs.readdirSync(path.join(tmp, 'd', 'artifacts', '.tmp')).length, 0, 'nothing is left half-read');

    // the cached copy on host c is intact; spoil it and the next read fetches again — and finds the bucket spoiled
    const cached = await a.localFile(ref);
    fs.writeFileSync(cached, 'spoiled');
    await assert.rejects(a.verify(ref), ArtifactIntegrityError);

    const good = await a.putJson('reports', { n: 3 });
    fs.writeFileSync(await a.localFile(good), 'spoiled');
    assert.deepEqual(JSON.parse(fs.readFileSync(await a.verify(good), 'utf8')), { n: 3 });
  });

  it('refuses a directory whose file was swapped in the bucket', async () => {
    const a = await host('e');
    const dir = a.tempPath('model');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'w.bin'), 'weights');
    const ref = await a.putDirectory('models/m', dir);
    await overwrite(`${ref.uri}/w.bin`, 'tampered');
    await assert.rejects((await host('f')).verify(ref), /w\.bin/);
    await assert.rejects((await host('g')).verify({ ...ref, uri: `${ref.uri}x` }), /is missing/);
  });

  it('keeps notes as whole objects and removes a kind with everything in it', async () => {
    const a = await host('h');
    assert.equal(await a.readNote('checkpoints/run-1', 'latest'), undefined);
    await a.writeNote('checkpoints/run-1', 'latest', { epochsDone: 1 });
    await a.writeNote('checkpoints/run-1', 'latest', { epochsDone: 2 });
    const b = await host('i');
    assert.deepEqual(await b.readNote('checkpoints/run-1', 'latest'), { epochsDone: 2 });
    const kept = await a.putJson('checkpoints/run-2', { keep: true });
    const gone = await a.putJson('checkpoints/run-1', { drop: true });
    await b.removeKind('checkpoints/run-1');
    assert.equal(await a.readNote('checkpoints/run-1', 'latest'), undefined);
    await assert.rejects((await host('j')).verify(gone), /is missing/);
    await (await host('k')).verify(kept);
  });

  it('snapshots, trains, checkpoints and load-checks a model across two hosts through the bucket', async () => {
    const a = await host('train');
    const spec = parseModelSpec({
      ...loadModelSpec(path.join(repoRoot, 'examples', 'models', 'seattle-weather.json')),
      training: {
        ...loadModelSpec(path.join(repoRoot, 'examples', 'models', 'seattle-weather.json')).training,
        epochs: 3,
      },
    });
    const dataset = await snapshotSource(a, { uri: 'vega-datasets:seattle-weather.csv' });
    assert.match(dataset.uri, /^s3:\/\/lumen-artifacts\/team-a\/prod\/snapshots\//);
    let notes = 0;
    const out = await trainOnDataset(a, spec, dataset, {
      checkpointKind: 'checkpoints/s3-run',
      onCheckpoint: async () => {
        notes += (await latestCheckpoint(a, 'checkpoints/s3-run')) ? 1 : 0;
      },
    });
    assert.equal(notes, 3, 'each epoch wrote its checkpoint note to the bucket');
    assert.equal(await latestCheckpoint(a, 'checkpoints/s3-run'), undefined, 'checkpoints are removed after the run');

    // another host reads the snapshot and the model only through the bucket
    const b = await host('evaluate');
    const table = await loadTable(b, dataset, [{ name: 'temp_max', as: 'number' }]);
    assert.equal(table.rows, dataset.rows);
    const { table: holdout, rows } = await loadHoldout(b, spec, dataset);
    const canary = await b.putJson('canaries', await makeCanary(b, spec, out.artifact, holdout, rows));
    const check = await runLoadCheck(b, out.artifact, canary);
    assert.equal(check.passed, true, check.detail);

    const config = (await host('config')).config;
    assert.equal(config.kind, 's3');
    const reopened = await storeFromConfig(config);
    await reopened.verify(out.artifact);
  });

  it('reads artifacts stored in a folder before the move to S3, and says where an artifact of another store is', async () => {
    const folder = new FileArtifactStore(path.join(tmp, 'old', 'artifacts'));
    const old = await folder.putJson('reports', { before: 'S3' });
    const a = await host('l');
    assert.equal(await a.verify(old), uriToPath(old.uri));
    const elsewhere: ArtifactRef = { ...old, uri: 's3://other-bucket/reports/x.json' };
    await assert.rejects(
      a.verify(elsewhere),
      (e: unknown) => e instanceof SourceError && /other-bucket/.test(e.message),
    );
    await assert.rejects(folder.verify(await a.putJson('r', {})), /S3 store.*LUMEN_ARTIFACTS_URL/);
  });

  it('stages an inbox batch in the bucket, and for the pipeline beside the inbox every pipeline worker mounts', async () => {
    const a = await host('inbox-host');
    const inbox = path.join(a.home, 'inbox');
    fs.mkdirSync(inbox, { recursive: true });
    fs.writeFileSync(path.join(inbox, 'batch-1.csv'), 'x,y\n1,2\n3,4\n');
    const { files, refused } = await scanInbox(a, inbox, Date.now() + 60_000);
    assert.deepEqual(refused, []);
    assert.equal(files.length, 1);
    const staged = files[0].source.uri;
    assert.equal(staged, path.join(inbox, '.lumen-staged', `${files[0].sha256}.csv`));
    assert.equal(fs.readFileSync(staged, 'utf8'), 'x,y\n1,2\n3,4\n');
    // and the batch itself is an artifact in the bucket, readable from another host
    const other = await host('inbox-reader');
    const ref = {
      uri: `s3://lumen-artifacts/team-a/prod/inbox/${files[0].sha256}.csv`,
      sha256: files[0].sha256,
      bytes: files[0].bytes,
    };
    assert.equal(fs.readFileSync(await other.verify(ref), 'utf8'), 'x,y\n1,2\n3,4\n');
  });

  it('refuses to open a store it cannot use: no such bucket, wrong credentials, no server', async () => {
    const paths = { home: tmp, artifacts: path.join(tmp, 'artifacts') };
    const cases: Array<[string, NodeJS.ProcessEnv, RegExp]> = [
      [s3.url('no-such-bucket', 'x'), {}, /bucket "no-such-bucket" does not exist/],
      [url, { AWS_ACCESS_KEY_ID: 'SOMEONE', AWS_SECRET_ACCESS_KEY: 'ELSE' }, /access denied \(the credentials/],
      ['s3://lumen-artifacts/x?endpoint=http://127.0.0.1:9&region=us-east-1', {}, /ECONNREFUSED/],
    ];
    for (const [value, env, reason] of cases) {
      await assert.rejects(
        openArtifactStore(paths, { ...process.env, ...env, LUMEN_ARTIFACTS_URL: value }),
        (e: unknown) =>
          e instanceof SpecError &&
          e.message.startsWith('cannot use the artifact store s3://') &&
          e.message.includes('(LUMEN_ARTIFACTS_URL)') &&
          reason.test(e.message),
        value,
      );
    }
  });

  it('names what is wrong with an artifact URL', async () => {
    const paths = { home: tmp, artifacts: path.join(tmp, 'artifacts') };
    const bad: Array<[string, RegExp]> = [
      ['s3://Bad_Bucket/x', /"Bad_Bucket" is not a valid bucket name/],
      ['s3://bucket/x?endpont=http://h', /unknown option "endpont"/],
      ['s3://key:secret@bucket/x', /must not carry credentials/],
      ['s3://bucket/a/../b', /"\." or "\.\." segments|not a valid/],
      ['s3://bucket/x?endpoint=ftp://h', /endpoint "ftp:\/\/h" must be an http/],
      ['s3://bucket/x?pathStyle=yes', /pathStyle must be true or false/],
      ['gs://bucket/x', /must be a file:\/\/ or s3:\/\/ URL/],
    ];
    for (const [value, message] of bad) {
      await assert.rejects(
        openArtifactStore(paths, { LUMEN_ARTIFACTS_URL: value }),
        (e: unknown) => e instanceof SpecError && message.test(e.message),
        value,
      );
    }
    const plain = parseS3Url('s3://bucket/prefix/', {});
    assert.equal(plain.prefix, 'prefix');
    assert.equal(plain.client.forcePathStyle, false, 'AWS itself: virtual-hosted buckets');
    assert.equal(plain.client.region, 'us-east-1');
    assert.equal(parseS3Url('s3://bucket?endpoint=http://minio:9000', {}).client.forcePathStyle, true);
    assert.equal(parseS3Url('s3://bucket', { AWS_REGION: 'eu-west-1' }).client.region, 'eu-west-1');

    const shared = await openArtifactStore(paths, { LUMEN_ARTIFACTS_URL: `file://${path.join(tmp, 'nfs')}` });
    assert.ok(shared instanceof FileArtifactStore);
    assert.equal(shared.root, path.join(tmp, 'nfs'));
    assert.equal(shared.home, tmp, 'the rules of this host’s home still apply');
    const local = await openArtifactStore(paths, {});
    assert.equal(local.root, paths.artifacts);
  });
});
