import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureTopic, partitionCount, producer } from '../../lib/stream/clients';
import { kafkaConnection } from '../../lib/stream/connection';
import { freePort } from '../../tools/devserver';
import { startKafkaBroker, type KafkaBroker } from '../../tools/kafka-broker';
import { readTopic } from '../support/kafka';

/**
 * Lumen's connection settings against a secured broker, as a managed cluster is: a listener that asks clients to
 * sign in (SASL_PLAINTEXT, PLAIN) and one that speaks TLS with a certificate of its own authority.
 */
describe('a Kafka cluster with SASL and TLS', () => {
  let broker: KafkaBroker;
  let dir: string;
  let saslPort: number;
  let tlsPort: number;
  let caFile: string;
  const password = 'pa"ss word\\1';

  before(async function () {
    this.timeout(120_000);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lumen-kafka-sasl-'));
    saslPort = await freePort();
    tlsPort = await freePort();
    // a certificate for 127.0.0.1, its own authority (as a private cluster's is)
    caFile = path.join(dir, 'broker-cert.pem');
    const key = path.join(dir, 'broker-key.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=lumen-test-broker',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        caFile,
      ],
      { stdio: 'ignore' },
    );
    const keystore = path.join(dir, 'broker-keystore.pem');
    fs.writeFileSync(keystore, fs.readFileSync(key, 'utf8') + fs.readFileSync(caFile, 'utf8'));
    broker = await startKafkaBroker({
      dataDir: dir,
      sasl: { port: saslPort, username: 'lumen', password },
      tls: { port: tlsPort, keystorePem: keystore },
    });
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

  it('speaks TLS to a broker of its own authority, and refuses one it cannot trust', async function () {
    this.timeout(120_000);
    const trusted = kafkaConnection({ LUMEN_KAFKA_BROKERS: `127.0.0.1:${tlsPort}`, LUMEN_KAFKA_CA_FILE: caFile });
    assert.ok(trusted.tls?.ca, 'a CA file implies TLS');
    await ensureTopic(trusted, 'over-tls', 1);
    const p = producer(trusted, 'test');
    await p.send({ messages: [{ topic: 'over-tls', value: Buffer.from('{"b":2}') }] });
    await p.close();
    assert.equal((await readTopic(broker.bootstrap, 'over-tls', 1))[0].value.toString(), '{"b":2}');
    // TLS on, but the broker's authority not given: its certificate is not trusted, and that is said
    const untrusted = kafkaConnection({ LUMEN_KAFKA_BROKERS: `127.0.0.1:${tlsPort}`, LUMEN_KAFKA_TLS: '1' });
    await assert.rejects(partitionCount(untrusted, 'over-tls'), (err: Error) => {
      assert.match(err.message, new RegExp(`Kafka at 127\\.0\\.0\\.1:${tlsPort} \\(TLS\\)`));
      assert.match(err.message, /self.signed|certificate/i);
      return true;
    });
  });
});
