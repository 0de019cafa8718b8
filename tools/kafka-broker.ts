import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, portInUse, stopProcess } from './devserver';

/**
 * A local Apache Kafka broker in KRaft mode (one process is both broker and controller, no ZooKeeper), run from
 * Maven Central's jars on the system's Java: the same broker for tests, demos and `lumen kafka`, started like the
 * Temporal dev server, with no Docker. The jars are resolved once by Maven into .tools/kafka/<version>/ (Maven
 * Central is one of the registries a fresh machine reaches); docker-compose.yml runs the official image of the same
 * version.
 */

/** the project folder, from tools/ (source) or dist/tools/ (compiled) */
const root = fs.existsSync(path.resolve(__dirname, '..', 'package.json'))
  ? path.resolve(__dirname, '..')
  : path.resolve(__dirname, '..', '..');

interface KafkaPin {
  maven: string;
  version: string;
  log4jSlf4jBinding: string;
  image: string;
}

export function kafkaPin(): KafkaPin {
  const pins = JSON.parse(fs.readFileSync(path.join(root, 'tools', 'toolchain.json'), 'utf8')) as { kafka: KafkaPin };
  return pins.kafka;
}

function pomFor(pin: KafkaPin): string {
  const dependency = (coordinates: string): string => {
    const [groupId, artifactId, version] = coordinates.split(':');
    return `    <dependency><groupId>${groupId}</groupId><artifactId>${artifactId}</artifactId><version>${version}</version></dependency>`;
  };
  return [
    '<project xmlns="http://maven.apache.org/POM/4.0.0">',
    '  <modelVersion>4.0.0</modelVersion>',
    '  <groupId>lumen</groupId><artifactId>kafka-broker</artifactId><version>1</version><packaging>pom</packaging>',
    '  <dependencies>',
    dependency(`${pin.maven}:${pin.version}`),
    // the broker logs through SLF4J 1.x: without a binding it says nothing at all, even when it fails
    dependency(pin.log4jSlf4jBinding),
    '  </dependencies>',
    '</project>',
    '',
  ].join('\n');
}

/**
 * The folder of the broker's jars, resolved by Maven the first time (about 45 MB; some seconds from Maven Central,
 * then cached). Throws, saying what to install, when Java or Maven is missing.
 */
export function ensureKafkaJars(quiet = true): string {
  const pin = kafkaPin();
  const dir = path.join(root, '.tools', 'kafka', pin.version);
  const libs = path.join(dir, 'libs');
  const done = path.join(dir, 'resolved');
  if (fs.existsSync(done)) return libs;
  for (const [tool, args, pkg] of [
    ['java', ['-version'], 'a Java 17+ runtime (Debian: openjdk-17-jre-headless)'],
    ['mvn', ['-v'], 'Maven (Debian: maven)'],
  ] as const) {
    const res = spawnSync(tool, [...args], { encoding: 'utf8' });
    if (res.error || res.status !== 0)
      throw new Error(`the local Kafka broker needs ${pkg}: \`${tool}\` is not usable`);
  }
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'pom.xml'), pomFor(pin));
  fs.rmSync(libs, { recursive: true, force: true });
  const res = spawnSync(
    'mvn',
    [
      '-B',
      ...(quiet ? ['-q'] : []),
      'dependency:copy-dependencies',
      '-DincludeScope=runtime',
      `-DoutputDirectory=${libs}`,
    ],
    { cwd: dir, encoding: 'utf8', stdio: quiet ? 'pipe' : 'inherit' },
  );
  if (res.status !== 0) {
    throw new Error(
      `Maven could not resolve the Kafka ${pin.version} broker jars from Maven Central:\n${`${res.stdout ?? ''}${res.stderr ?? ''}`.slice(-3000)}`,
    );
  }
  fs.writeFileSync(done, `${new Date().toISOString()}\n`);
  return libs;
}

export interface KafkaBroker {
  /** host:port for clients (LUMEN_KAFKA_BROKERS) */
  bootstrap: string;
  port: number;
  controllerPort: number;
  dataDir: string;
  logFile: string;
  process: ChildProcess;
  stop(): Promise<void>;
  /** a crash: SIGKILL, no clean shutdown */
  kill(): Promise<void>;
}

export interface KafkaBrokerOptions {
  /** where the broker keeps its log segments and metadata; a folder formatted before is reused as it is */
  dataDir: string;
  port?: number;
  controllerPort?: number;
  /** default: broker.log in dataDir */
  logFile?: string;
  /** partitions of a topic created on first use (default 1) */
  defaultPartitions?: number;
  /** the broker's largest accepted message, bytes (Kafka's default 1 MiB) */
  maxMessageBytes?: number;
  /**
   * also a SASL listener (SASL_PLAINTEXT, mechanism PLAIN) on this port, for one user: how a secured cluster asks
   * a client to sign in, for tests of Lumen's SASL settings
   */
  sasl?: { port: number; username: string; password: string };
  /** also a TLS listener (SSL) on this port, with the key and certificate chain in one PEM file */
  tls?: { port: number; keystorePem: string };
  startTimeoutMs?: number;
}

/**
 * A JAAS option value, quoted as the broker's parser reads it (the whole line is escaped again for the properties
 * file, whose reader takes a backslash as an escape too).
 */
const jaas = (value: string): string => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

function serverProperties(
  o: Required<Omit<KafkaBrokerOptions, 'logFile' | 'startTimeoutMs' | 'sasl' | 'tls'>> &
    Pick<KafkaBrokerOptions, 'sasl' | 'tls'>,
): string {
  const { sasl, tls } = o;
  const extra = [
    ...(sasl ? [`SASL_PLAINTEXT://127.0.0.1:${sasl.port}`] : []),
    ...(tls ? [`SSL://127.0.0.1:${tls.port}`] : []),
  ];
  const listeners = [`PLAINTEXT://127.0.0.1:${o.port}`, ...extra];
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${o.controllerPort}`,
    `listeners=${[...listeners, `CONTROLLER://127.0.0.1:${o.controllerPort}`].join(',')}`,
    `advertised.listeners=${listeners.join(',')}`,
    'controller.listener.names=CONTROLLER',
    `listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL`,
    'inter.broker.listener.name=PLAINTEXT',
    ...(tls
      ? ['listener.name.ssl.ssl.keystore.type=PEM', `listener.name.ssl.ssl.keystore.location=${tls.keystorePem}`]
      : []),
    ...(sasl
      ? [
          'sasl.enabled.mechanisms=PLAIN',
          `listener.name.sasl_plaintext.plain.sasl.jaas.config=${`org.apache.kafka.common.security.plain.PlainLoginModule required user_${sasl.username}=${jaas(sasl.password)};`.replace(/\\/g, '\\\\')}`,
        ]
      : []),
    `log.dirs=${path.join(o.dataDir, 'logs')}`,
    `num.partitions=${o.defaultPartitions}`,
    // one node: every internal topic has one replica
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=4',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    // a group's first member starts at once instead of waiting 3 s for others
    'group.initial.rebalance.delay.ms=0',
    `message.max.bytes=${o.maxMessageBytes}`,
    'auto.create.topics.enable=true',
    '',
  ].join('\n');
}

function log4jConfig(logFile: string): string {
  return [
    'status = warn',
    'appender.file.type = File',
    'appender.file.name = file',
    `appender.file.fileName = ${logFile}`,
    'appender.file.layout.type = PatternLayout',
    'appender.file.layout.pattern = [%d] %p %m (%c)%n',
    // warnings and errors; of the rest, only the server's start and stop (not its configuration dump, nor the
    // per-segment chatter of a busy broker)
    'rootLogger.level = warn',
    'rootLogger.appenderRef.file.ref = file',
    'logger.server.name = kafka.server.KafkaRaftServer',
    'logger.server.level = info',
    '',
  ].join('\n');
}

const JAVA_OPTIONS = ['-Xms256m', '-Xmx768m', '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-Djava.awt.headless=true'];

function java(libs: string, main: string, args: string[], extra: string[] = []): string[] {
  return [...JAVA_OPTIONS, ...extra, '-cp', `${libs}/*`, main, ...args];
}

/**
 * Start a broker (formatting its data folder on first use) and wait until it answers a metadata request. The same
 * data folder and ports may be started again after a stop or a kill: what it held is still there.
 */
export async function startKafkaBroker(options: KafkaBrokerOptions): Promise<KafkaBroker> {
  const libs = ensureKafkaJars();
  const port = options.port ?? (await freePort());
  const controllerPort = options.controllerPort ?? (await freePort());
  for (const p of [port, controllerPort]) {
    if (await portInUse(p)) throw new Error(`cannot start the Kafka broker: port ${p} is already in use`);
  }
  const dataDir = path.resolve(options.dataDir);
  fs.mkdirSync(dataDir, { recursive: true });
  const logFile = options.logFile ?? path.join(dataDir, 'broker.log');
  const props = path.join(dataDir, 'server.properties');
  fs.writeFileSync(
    props,
    serverProperties({
      dataDir,
      port,
      controllerPort,
      defaultPartitions: options.defaultPartitions ?? 1,
      maxMessageBytes: options.maxMessageBytes ?? 1_048_588,
      sasl: options.sasl,
      tls: options.tls,
    }),
  );
  const log4j = path.join(dataDir, 'log4j2.properties');
  fs.writeFileSync(log4j, log4jConfig(logFile));
  const logging = [`-Dlog4j2.configurationFile=${log4j}`, `-Dkafka.logs.dir=${dataDir}`];
  if (!fs.existsSync(path.join(dataDir, 'logs', 'meta.properties'))) {
    // a new cluster: its id is random, once; the folder keeps it (given with `=`: an id may begin with a dash)
    const clusterId = crypto.randomBytes(16).toString('base64url').slice(0, 22);
    const res = spawnSync(
      'java',
      java(libs, 'kafka.tools.StorageTool', ['format', `--cluster-id=${clusterId}`, '-c', props], logging),
      { encoding: 'utf8' },
    );
    if (res.status !== 0)
      throw new Error(`cannot format the Kafka data folder ${dataDir}:\n${res.stdout}${res.stderr}`);
  }
  const out = fs.openSync(logFile, 'a');
  const child = spawn('java', java(libs, 'kafka.Kafka', [props], logging), { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  const bootstrap = `127.0.0.1:${port}`;
  const deadline = Date.now() + (options.startTimeoutMs ?? 90_000);
  while (!(await brokerAnswers(bootstrap))) {
    if (exited !== undefined) {
      throw new Error(`the Kafka broker exited with ${exited} before it answered; log:\n${tail(logFile)}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the Kafka broker at ${bootstrap} did not answer in time; log:\n${tail(logFile)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    bootstrap,
    port,
    controllerPort,
    dataDir,
    logFile,
    process: child,
    stop: () => stopProcess(child, 30_000),
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    },
  };
}

/** Whether a broker at `bootstrap` answers with its cluster's metadata (a port that accepts is not enough). */
async function brokerAnswers(bootstrap: string): Promise<boolean> {
  if (!(await portInUse(Number(bootstrap.split(':')[1])))) return false;
  const { Admin } = await import('@platformatic/kafka');
  const admin = new Admin({
    clientId: 'lumen-probe',
    bootstrapBrokers: [bootstrap],
    retries: 0,
    connectTimeout: 2000,
    timeout: 3000,
  });
  try {
    const metadata = await admin.metadata({ topics: [] });
    return metadata.brokers.size > 0;
  } catch {
    return false;
  } finally {
    await admin.close().catch(() => undefined);
  }
}

function tail(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
