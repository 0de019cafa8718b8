/**
 * The workflow code bundled once, at set-up (tools/setup.mjs runs this after compiling dist/): workers load
 * dist/workflow-bundle.js instead of running webpack at every start — a quieter and shorter start.
 *
 *   node dist/tools/bundle-workflows.js
 */
import fs from 'node:fs';
import { bundleWorkflowCode } from '@temporalio/worker';
import { PAYLOAD_CONVERTER_PATH, PREBUILT_BUNDLE, WORKFLOW_INTERCEPTOR_MODULES } from '../worker/workers';

async function run(): Promise<void> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    payloadConverterPath: PAYLOAD_CONVERTER_PATH,
    workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
    // webpack's module listing is for people debugging the bundle, not for set-up's output
    logger: {
      log: () => undefined,
      trace: () => undefined,
      debug: () => undefined,
      info: () => undefined,
      warn: (m) => console.warn(m),
      error: (m) => console.error(m),
    },
  });
  const temp = `${PREBUILT_BUNDLE}.part-${process.pid}`;
  fs.writeFileSync(temp, code);
  fs.renameSync(temp, PREBUILT_BUNDLE);
}

run().catch((err) => {
  console.error(`bundling the workflows failed: ${(err as Error).message}`);
  process.exit(1);
});
