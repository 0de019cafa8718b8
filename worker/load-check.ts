/**
 * The load check's fresh process (TFX InfraValidator's job): given an artifact reference and a canary, verify
 * the artifact's bytes against its digest, load it, predict the canary rows and compare with the predictions made
 * at evaluation. Reads one JSON request on stdin, writes one JSON result on stdout, exits 0 either way.
 */
import fs from 'node:fs';
import { storeFromConfig, type ArtifactRef, type StoreConfig } from '../lib/artifacts';
import { canaryTable, compareCanary, type Canary } from '../lib/evaluation/evaluate';
import { encodeFeatures } from '../lib/features';
import { loadModelArtifact } from '../lib/model/artifact';
import { predictRows } from '../lib/model/predict';
import { loadTf } from '../lib/model/tf';

interface Request {
  store: StoreConfig;
  artifact: ArtifactRef;
  canary: ArtifactRef;
  tolerance: number;
}

async function run(): Promise<{ passed: boolean; detail: string; maxAbsDiff?: number; backend?: string }> {
  const request = JSON.parse(fs.readFileSync(0, 'utf8')) as Request;
  const store = await storeFromConfig(request.store);
  const canary = JSON.parse(fs.readFileSync(await store.verify(request.canary), 'utf8')) as Canary;
  const { tf, backend } = await loadTf();
  const loaded = await loadModelArtifact(store, tf, request.artifact);
  const { table, rows } = canaryTable(canary);
  const x = encodeFeatures(loaded.preprocessor, table, rows);
  const p = predictRows(tf, loaded.model, x, rows.length, loaded.preprocessor.width);
  const check = compareCanary(p, canary, request.tolerance);
  return { ...check, detail: check.passed ? `digest verified; ${check.detail}` : check.detail, backend };
}

run()
  .then((result) => process.stdout.write(`${JSON.stringify(result)}\n`))
  .catch((err: unknown) => {
    process.stdout.write(`${JSON.stringify({ passed: false, detail: (err as Error).message.split('\n')[0] })}\n`);
  });
