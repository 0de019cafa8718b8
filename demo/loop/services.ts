import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { FileArtifactStore, type ArtifactStore } from '../../lib/artifacts';
import { lumenPaths, projectRoot } from '../../lib/config';
import { SqliteRegistry } from '../../lib/registry/sqlite';
import { loadAccessPolicy } from '../../lib/access/policy';
import { DEFAULT_LOG_OPTIONS } from '../../lib/serving/prediction-log';
import { codeVersion } from '../../lib/version';
import { startServer, type RunningServer } from '../../serve/server';
import { StreamLabels } from '../../serve/stream-labels';
import { StreamScorer } from '../../serve/stream-scorer';
import { ensureTopic } from '../../lib/stream/clients';
import type { KafkaConnection } from '../../lib/stream/connection';
import { startKafkaBroker, type KafkaBroker } from '../../tools/kafka-broker';
import { DEMO_TOPICS } from './kafka-traffic';
import { freePort, portInUse, startDevServer, stopProcess, type DevServer } from '../../tools/devserver';
import { createWorkers } from '../../worker/workers';
import { searchAttributeTypes } from '../../workflows/definitions';
import { connectClient, localClientConfig, workflowUrl, type ClientConfig } from '../../client/connection';

/**
 * What the living loop runs on, all on this machine and all on a fresh state: a Temporal dev server, a pipeline
 * worker in this process, a training worker in its own process (so the story can kill it), and a serving instance
 * with its console and prediction log.
 */
export class LoopServices {
  readonly store: ArtifactStore;
  readonly registry: SqliteRegistry;
  /** the admin and feedback token: workers tell the serving instance about promotions with it, traffic sends labels */
  readonly token = randomBytes(18).toString('base64url');
  private devServer?: DevServer;
  private connection?: NativeConnection;
  private workers: Worker[] = [];
  private running: Promise<void>[] = [];
  private trainer?: ChildProcess;
  private clientValue?: Client;
  private configValue?: ClientConfig;
  private serverValue?: RunningServer;
  private broker?: KafkaBroker;
  private scorer?: StreamScorer;
  private labelReader?: StreamLabels;
  /** with `--via kafka`: the broker's connection */
  kafka?: KafkaConnection;

  constructor(readonly home: string) {
    fs.rmSync(home, { recursive: true, force: true });
    fs.mkdirSync(home, { recursive: true });
    const paths = lumenPaths(home);
    this.store = new FileArtifactStore(paths.artifacts);
    this.registry = new SqliteRegistry(paths.registry);
  }

  get client(): Client {
    return started(this.clientValue);
  }
  get config(): ClientConfig {
    return started(this.configValue);
  }
  get server(): RunningServer {
    return started(this.serverValue);
  }
  get trainerLog(): string {
    return path.join(this.home, 'training-worker.log');
  }

  /** The Web UI's page of a workflow. */
  link(workflowId: string): string {
    return workflowUrl(this.config, workflowId);
  }

  async start(approvals: string, via: 'http' | 'kafka' = 'http'): Promise<void> {
    process.env.LUMEN_ADMIN_TOKEN = this.token;
    const port = (await portInUse(7233)) ? await freePort() : 7233;
    const uiPort = (await portInUse(8233)) ? await freePort() : 8233;
    this.devServer = await startDevServer({
      port,
      uiPort,
      dbFile: path.join(this.home, 'temporal', 'dev.sqlite'),
      logFile: path.join(this.home, 'temporal', 'server.log'),
      searchAttributes: searchAttributeTypes(),
    });
    const config = (this.configValue = localClientConfig(this.devServer.address, this.devServer.uiUrl));
    console.log(`temporal   ${config.address}, Web UI ${config.uiUrl}${port !== 7233 ? ' (7233 was taken)' : ''}`);
    this.clientValue = await connectClient(config);
    this.connection = await NativeConnection.connect(config.connection);
    this.workers = await createWorkers({
      connection: this.connection,
      roles: ['pipeline'],
      deps: {
        store: this.store,
        registry: this.registry,
        codeVersion: codeVersion(),
        access: () => loadAccessPolicy(this.home),
      },
    });
    this.running = this.workers.map((w) => w.run());
    this.startTrainer();
    this.serverValue = await startServer(
      { store: this.store, registry: this.registry },
      {
        host: '127.0.0.1',
        port: 0,
        batch: { maxBatch: 256, maxWaitMs: 0 },
        bodyLimit: 1024 * 1024,
        maxRows: 1000,
        rateLimit: null,
        tokens: { admin: this.token, feedback: this.token, predict: null },
        watchMs: 2000,
        log: {
          root: path.join(this.home, 'predictions'),
          options: { ...DEFAULT_LOG_OPTIONS, flushEveryMs: 1000, retentionDays: 30 },
        },
        feedbackFile: path.join(this.home, 'predictions', 'feedback.sqlite'),
        corsOrigin: null,
        temporal: config,
      },
    );
    console.log(`serving    ${this.server.url} (console ${this.server.url}/ui)`);
    if (via === 'kafka') await this.startKafka();
    console.log(`approvals  ${approvals}\n`);
  }

  /**
   * `--via kafka`: a local broker (the one `lumen kafka` runs), and the serving instance answering the requests topic
   * into the answers topic and recording the labels topic — traffic, answers and labels through Kafka.
   */
  private async startKafka(): Promise<void> {
    this.broker = await startKafkaBroker({ dataDir: path.join(this.home, 'kafka'), defaultPartitions: 2 });
    const connection = (this.kafka = { brokers: [this.broker.bootstrap] });
    for (const topic of Object.values(DEMO_TOPICS)) await ensureTopic(connection, topic, 2);
    this.scorer = new StreamScorer(
      this.server.host,
      connection,
      { model: 'flights-delay', inTopic: DEMO_TOPICS.requests, outTopic: DEMO_TOPICS.answers, maxBatch: 2048 },
      this.server.metrics,
    );
    await this.scorer.start();
    this.labelReader = new StreamLabels(
      this.server.takeFeedback,
      connection,
      { topic: DEMO_TOPICS.labels },
      this.server.metrics,
    );
    await this.labelReader.start();
    console.log(
      `kafka      ${this.broker.bootstrap}: ${DEMO_TOPICS.requests} → the scorer → ${DEMO_TOPICS.answers}; labels from ${DEMO_TOPICS.labels}`,
    );
  }

  /** Labels the serving instance has recorded from the labels topic. */
  labelsRecorded(): number {
    return this.labelReader?.current().accepted ?? 0;
  }

  /** The training worker, in its own process: what the story kills. */
  startTrainer(): void {
    const log = fs.openSync(this.trainerLog, 'a');
    this.trainer = spawn(
      process.execPath,
      [path.join(projectRoot(), 'dist', 'worker', 'main.js'), '--queues', 'training'],
      {
        env: { ...process.env, LUMEN_HOME: this.home, TEMPORAL_ADDRESS: this.config.address },
        stdio: ['ignore', log, log],
      },
    );
    fs.closeSync(log);
  }

  killTrainer(): void {
    this.trainer?.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    await this.scorer?.stop().catch(() => undefined);
    await this.labelReader?.stop().catch(() => undefined);
    await this.serverValue?.close().catch(() => undefined);
    await this.broker?.stop().catch(() => undefined);
    for (const w of this.workers) if (w.getState() === 'RUNNING') w.shutdown();
    await Promise.allSettled(this.running);
    if (this.trainer && this.trainer.exitCode === null) await stopProcess(this.trainer).catch(() => undefined);
    await this.connection?.close().catch(() => undefined);
    await this.clientValue?.connection.close().catch(() => undefined);
    await this.devServer?.stop().catch(() => undefined);
    this.registry.close();
  }
}

function started<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('the demo services are not started yet');
  return value;
}
