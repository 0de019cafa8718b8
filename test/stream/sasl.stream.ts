import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureTopic, partitionCount, producer } from '../../lib/stream/clients';
import { kafkaConnection } from '../../lib/stream/connection';
import { freePort } from '../../tools/devserver';
import { startKafkaBroker, type KafkaBroker } from '../../tools/kafka-broker';
import { readTopic } from '../support/kafka';

/** Lumen's SASL settings against a broker that asks clients to sign in (SASL_PLAINTEXT, PLAIN), as a managed one does. */
describe('a Kafka cluster with SASL', () => {
  let broker: KafkaBroker;
  let dir: string;
  let saslPort: number;
  const password = 'pa"ss word\\1';

  before(async function () {
    this.timeout(120_000);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-kafka-sasl-'));
    saslPort = await freePort();
    broker = await startKafkaBroker({ dataDir: dir, sasl: { port: saslPort, username: 'lumen', password } });
  });
  after(async function () {
    this.timeout(60_000);
    await broker?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("signs in with the environment's settings, and says so when the password is wrong", async function () {
    this.timeout(120_000);
    const passwordFile = path.join(dir, 'password');
    fs.writeFileSync(passwordFile, `${password}\n`);
    const env = {
      LUMEN_KAFKA_BROKERS: `127.0.0.1:${saslPort}`,
      LUMEN_KAFKA_SASL_MECHANISM: 'PLAIN',
      LUMEN_KAFKA_SASL_USERNAME: 'lumen',
      LUMEN_KAFKA_SASL_PASSWORD_FILE: passwordFile,
    };
    const connection = kafkaConnection(env);
    assert.deepEqual(connection.sasl, { mechanism: 'PLAIN', username: 'lumen', password });
    await ensureTopic(connection, 'signed-in', 1);
    assert.equal(await partitionCount(connection, 'signed-in'), 1);
    const p = producer(connection, 'test');
    await p.send({ messages: [{ topic: 'signed-in', key: Buffer.from('k'), value: Buffer.from('{"a":1}') }] });
    await p.close();
    // read back over the plain listener: the event went through the signed-in one
    const read = await readTopic(broker.bootstrap, 'signed-in', 1);
    assert.equal(read[0].value.toString(), '{"a":1}');
    const wrong = kafkaConnection({
      ...env,
      LUMEN_KAFKA_SASL_PASSWORD_FILE: undefined,
      LUMEN_KAFKA_SASL_PASSWORD: 'nope',
    });
    await assert.rejects(partitionCount({ ...wrong }, 'signed-in'), (err: Error) => {
      assert.match(err.message, new RegExp(`Kafka at 127\\.0\\.0\\.1:${saslPort} \\(SASL PLAIN\\)`));
      assert.match(err.message, /SASL authentication failed/);
      return true;
    });
  });
});
