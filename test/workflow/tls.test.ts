import 'reflect-metadata'; // @peculiar/x509's dependency injection needs it loaded first
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import * as x509 from '@peculiar/x509';
import { stopProcess } from '../../tools/devserver';
import { lumen } from '../support/cli';
import { repoRoot, temporalAddress, tempHome, testClient, uniqueQueues, type TestHome } from '../support/env';
import { spawnWorker, until, type WorkerProcess } from '../support/worker-process';

/**
 * Workers and the CLI on a Temporal server reached over mutual TLS, configured as Temporal's own tools are
 * (TEMPORAL_TLS_* variables, or a profile file). The dev server has no TLS of its own, so a TLS-terminating proxy
 * made here sits in front of it: it presents a server certificate, demands a client certificate from the test's CA,
 * and passes the decrypted HTTP/2 on.
 */

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

interface Issued {
  cert: x509.X509Certificate;
  keys: webcrypto.CryptoKeyPair;
}

async function keyPair(): Promise<webcrypto.CryptoKeyPair> {
  return await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
}

const validity = () => ({ notBefore: new Date(Date.now() - 3_600_000), notAfter: new Date(Date.now() + 86_400_000) });

async function authority(name: string): Promise<Issued> {
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=${name}`,
    ...validity(),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  return { cert, keys };
}

async function issue(ca: Issued, name: string, serial: string, server: boolean): Promise<Issued> {
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: `CN=${name}`,
    issuer: ca.cert.subject,
    ...validity(),
    signingAlgorithm: ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false),
      new x509.ExtendedKeyUsageExtension([
        server ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
      ]),
      ...(server
        ? [
            new x509.SubjectAlternativeNameExtension([
              { type: 'dns', value: 'localhost' },
              { type: 'ip', value: '127.0.0.1' },
            ]),
          ]
        : []),
    ],
  });
  return { cert, keys };
}

async function writePair(dir: string, name: string, issued: Issued): Promise<{ cert: string; key: string }> {
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}.key`);
  fs.writeFileSync(cert, issued.cert.toString('pem'));
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', issued.keys.privateKey);
  fs.writeFileSync(key, x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'), { mode: 0o600 });
  return { cert, key };
}

/** The base64 body of a PEM key, the part that is the secret. */
function keyBody(file: string): string {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line && !line.startsWith('-----'))
    .join('');
}

/** Every file under a folder, as text, keyed by its path. */
function everyFile(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    out[file] = fs.readFileSync(file).toString('latin1');
  }
  return out;
}

describe('secured Temporal connections: mutual TLS through a terminating proxy', () => {
  let t: TestHome;
  let proxy: tls.Server;
  let address: string;
  let files: Record<'ca' | 'otherCa' | 'server' | 'serverKey' | 'worker' | 'workerKey' | 'alice' | 'aliceKey', string>;
  /** the client certificates the proxy accepted, by common name, and the handshakes it refused */
  const accepted: string[] = [];
  const refused: string[] = [];
  const workers: WorkerProcess[] = [];
  const queues = uniqueQueues();

  before(async () => {
    t = tempHome('lumen-tls-');
    const dir = path.join(t.home, 'pki');
    fs.mkdirSync(dir);
    const ca = await authority('Lumen test CA');
    const other = await authority('Somebody else');
    const server = await writePair(dir, 'server', await issue(ca, 'localhost', '02', true));
    const worker = await writePair(dir, 'worker', await issue(ca, 'lumen-worker', '03', false));
    const alice = await writePair(dir, 'alice', await issue(ca, 'alice', '04', false));
    const caFile = path.join(dir, 'ca.pem');
    fs.writeFileSync(caFile, ca.cert.toString('pem'));
    const otherFile = path.join(dir, 'other-ca.pem');
    fs.writeFileSync(otherFile, other.cert.toString('pem'));
    files = {
      ca: caFile,
      otherCa: otherFile,
      server: server.cert,
      serverKey: server.key,
      worker: worker.cert,
      workerKey: worker.key,
      alice: alice.cert,
      aliceKey: alice.key,
    };
    const [host, port] = temporalAddress().split(':');
    proxy = tls.createServer(
      {
        cert: fs.readFileSync(files.server),
        key: fs.readFileSync(files.serverKey),
        ca: [fs.readFileSync(files.ca)],
        requestCert: true,
        rejectUnauthorized: true,
        ALPNProtocols: ['h2'],
      },
      (socket) => {
        accepted.push(String(socket.getPeerCertificate().subject.CN));
        const upstream = net.connect({ host, port: Number(port) });
        socket.pipe(upstream).pipe(socket);
        socket.on('error', () => upstream.destroy());
        upstream.on('error', () => socket.destroy());
      },
    );
    proxy.on('tlsClientError', (err) => refused.push(err.message));
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    address = `127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
  });
  after(async () => {
    await Promise.all(workers.map((w) => stopProcess(w.child, 2000)));
    proxy.close();
    t.cleanup();
  });

  /** a secret that must never show up anywhere: sent as an API key by the worker and the CLI */
  const API_KEY = `lumen-test-api-key-${Math.random().toString(36).slice(2)}`;
  const tlsEnv = (cert: string, key: string, ca = files.ca): NodeJS.ProcessEnv => ({
    TEMPORAL_ADDRESS: address,
    TEMPORAL_API_KEY: API_KEY,
    TEMPORAL_TLS_CLIENT_CERT_PATH: cert,
    TEMPORAL_TLS_CLIENT_KEY_PATH: key,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca,
    TEMPORAL_TLS_SERVER_NAME: 'localhost',
  });
  const cliEnv = (extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv => {
    const { TEMPORAL_ADDRESS: _address, ...inherited } = process.env;
    return {
      ...inherited,
      CI: 'true',
      LUMEN_HOME: t.home,
      LUMEN_PIPELINE_QUEUE: queues.pipeline,
      LUMEN_TRAINING_QUEUE: queues.training,
      ...extra,
    };
  };

  it('a worker and the CLI train a model over mutual TLS, each with its own certificate', async () => {
    const worker = spawnWorker(t.home, queues, 'pipeline,training', address, tlsEnv(files.worker, files.workerKey));
    workers.push(worker);
    await until('the worker polls over TLS', 120_000, () =>
      Promise.resolve(/polling .* \(TLS, client certificate, API key\)/.test(worker.output()) ? true : undefined),
    );
    // a model of its own: the dev server is shared, and the same batch of the same model never trains twice
    const spec = path.join(t.home, 'weather-tls.json');
    const example = JSON.parse(
      fs.readFileSync(path.join(repoRoot, 'examples', 'models', 'seattle-weather.json'), 'utf8'),
    ) as Record<string, unknown>;
    fs.writeFileSync(spec, JSON.stringify({ ...example, name: 'weather-tls' }));
    const ran = await lumen(
      ['start', spec, '--source', 'vega-datasets:seattle-weather.csv'],
      cliEnv(tlsEnv(files.alice, files.aliceKey)),
      300_000,
    );
    assert.equal(ran.code, 0, ran.stderr + ran.stdout);
    assert.match(ran.stdout, /model {6}weather-tls v1 \(promoted\)/);
    assert.ok(accepted.includes('lumen-worker'), `the worker came in as lumen-worker: ${accepted.join(', ')}`);
    assert.ok(accepted.includes('alice'), `the CLI came in as alice: ${accepted.join(', ')}`);

    // the same, configured by a profile file instead of variables
    const workflowId = /started (\S+)/.exec(ran.stdout)![1];
    const profile = path.join(t.home, 'temporal.toml');
    fs.writeFileSync(
      profile,
      [
        '[profile.secured]',
        `address = "${address}"`,
        'namespace = "default"',
        '[profile.secured.tls]',
        `client_cert_path = "${files.alice}"`,
        `client_key_path = "${files.aliceKey}"`,
        `server_ca_cert_path = "${files.ca}"`,
        'server_name = "localhost"',
        '',
      ].join('\n'),
    );
    const status = await lumen(
      ['status', workflowId],
      cliEnv({ TEMPORAL_CONFIG_FILE: profile, TEMPORAL_PROFILE: 'secured' }),
    );
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /weather-tls v1 \(promoted\)/);

    // no secret in what the run left behind: the outputs, the run's history on the server, the registry, artifacts
    const client = await testClient();
    const history = JSON.stringify(await client.workflow.getHandle(workflowId).fetchHistory());
    await client.connection.close();
    const secrets = {
      'the API key': API_KEY,
      "the worker's private key": keyBody(files.workerKey),
      "alice's private key": keyBody(files.aliceKey),
    };
    const places: Record<string, string> = {
      'the worker output': worker.output(),
      'the CLI output': ran.stdout + ran.stderr + status.stdout + status.stderr,
      'the history': history,
      ...everyFile(path.join(t.home, 'artifacts')),
      'the registry': fs.readFileSync(path.join(t.home, 'registry.sqlite')).toString('latin1'),
    };
    assert.ok(history.includes('weather-tls'), 'the history was read');
    for (const [secret, value] of Object.entries(secrets)) {
      for (const [place, text] of Object.entries(places)) {
        assert.ok(!text.includes(value), `${secret} appears in ${place}`);
      }
    }
  });

  it('refuses a server whose certificate its CA did not sign, and the proxy refuses a client without one', async () => {
    const before = accepted.length;
    const wrongServer = await lumen(['status', 'anything'], cliEnv(tlsEnv(files.alice, files.aliceKey, files.otherCa)));
    assert.equal(wrongServer.code, 4);
    assert.match(
      wrongServer.stderr,
      new RegExp(
        `cannot reach the Temporal server at ${address} \\(TEMPORAL_ADDRESS; TLS, client certificate, API key\\)`,
      ),
    );
    const { TEMPORAL_TLS_CLIENT_CERT_PATH: _c, TEMPORAL_TLS_CLIENT_KEY_PATH: _k, ...noCert } = tlsEnv('', '');
    const anonymous = await lumen(['status', 'anything'], cliEnv(noCert));
    assert.equal(anonymous.code, 4);
    assert.match(anonymous.stderr, /cannot reach the Temporal server at .* \(TEMPORAL_ADDRESS; TLS, API key\)/);
    assert.equal(accepted.length, before, 'neither got through the proxy');
    assert.ok(
      refused.some((r) => /certificate/i.test(r)),
      `the proxy refused the handshake without a certificate: ${refused.join(' | ')}`,
    );
    // a plain connection to a TLS endpoint does not pretend to work either
    const plain = await lumen(['status', 'anything'], cliEnv({ TEMPORAL_ADDRESS: address }));
    assert.equal(plain.code, 4);
    assert.match(plain.stderr, /\(TEMPORAL_ADDRESS; plain\)/);
  });
});
