import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { clientConfig, serverRecordFile } from '../../client/connection';
import { formatLogLine } from '../../worker/log';
import { tempHome } from '../support/env';

describe('what workers and the CLI say', () => {
  const entry = {
    level: 'INFO' as const,
    message: 'epoch complete',
    timestampNanos: BigInt(Date.UTC(2026, 11, 6, 14, 25, 58, 392)) * 1_000_000n,
    meta: {
      sdkComponent: 'activity',
      namespace: 'default',
      taskQueue: 'lumen-training',
      workflowId: 'train:seattle-weather:54f0b59c5174ccd5',
      runId: '01a24bbf',
      activityId: '3',
      activityType: 'trainModel',
      attempt: 1,
      isLocal: false,
      model: 'seattle-weather',
      epoch: 21,
      loss: 0.409512,
      history: [{ epoch: 1, loss: 1 }],
    },
  };

  it('a worker logs one line per event: what it is about and its numbers; --verbose adds every field', () => {
    assert.equal(
      formatLogLine(entry, false),
      '14:25:58.392 INFO  epoch complete [train:seattle-weather:54f0b59c5174ccd5 trainModel] model=seattle-weather epoch=21 loss=0.4095',
    );
    const verbose = formatLogLine(entry, true)!;
    assert.equal(verbose.split('\n').length, 1);
    assert.match(verbose, /"taskQueue":"lumen-training".*"history":\[\{"epoch":1,"loss":1\}\]/);
    const quiet = { ...entry, message: 'No workflows registered, not polling for workflow tasks', meta: {} };
    assert.equal(formatLogLine(quiet, false), null, 'the training worker runs no workflows on purpose');
    assert.notEqual(formatLogLine(quiet, true), null);
  });

  it('links follow the Web UI of the dev server `lumen server` runs, on whatever port it is', () => {
    const t = tempHome();
    const saved = { ...process.env };
    try {
      process.env.LUMEN_HOME = t.home;
      process.env.TEMPORAL_ADDRESS = '127.0.0.1:7399';
      delete process.env.LUMEN_UI_URL;
      assert.equal(clientConfig().uiUrl, 'http://localhost:8233', 'no server recorded: the default');
      fs.mkdirSync(path.dirname(serverRecordFile()), { recursive: true });
      const record = { address: '127.0.0.1:7399', uiUrl: 'http://localhost:8399', pid: process.pid };
      fs.writeFileSync(serverRecordFile(), JSON.stringify(record));
      assert.equal(clientConfig().uiUrl, 'http://localhost:8399');
      process.env.TEMPORAL_ADDRESS = '127.0.0.1:7233';
      assert.equal(clientConfig().uiUrl, 'http://localhost:8233', 'another server: not its UI');
      process.env.TEMPORAL_ADDRESS = '127.0.0.1:7399';
      fs.writeFileSync(serverRecordFile(), JSON.stringify({ ...record, pid: 2 ** 22 + 17 }));
      assert.equal(clientConfig().uiUrl, 'http://localhost:8233', 'a server that stopped: not its UI');
      process.env.LUMEN_UI_URL = 'https://temporal.example.com';
      assert.equal(clientConfig().uiUrl, 'https://temporal.example.com', 'LUMEN_UI_URL wins');
    } finally {
      process.env = saved;
      t.cleanup();
    }
  });
});
