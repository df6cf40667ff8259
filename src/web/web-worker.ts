import cluster from "node:cluster";
import http from "node:http";

import { createAdapter as createClusterAdapter } from "@socket.io/cluster-adapter";
import { createAdapter as createRedisAdapter } from "@socket.io/redis-adapter";
import { setupWorker as setupStickyWorker } from "@socket.io/sticky";
import type { Logger } from "pino";
import { Server, type ServerOptions } from "socket.io";

import type { Settings } from "../config/settings";
import { configureDataDirectory } from "../data/uploads/upload-store";
import { loadStrategiesAtStartup } from "../engine/strategies/load-at-startup";
import { BACKTEST_NAMESPACE } from "../hubs/backtest-events";
import { registerBacktestHub } from "../hubs/backtest-hub";
import { createLogger } from "../logging/logger";
import { createShutdown, onFatalErrors, onTerminationSignals } from "../lifecycle/shutdown";
import type { BacktestJobs } from "../queues/backtest-jobs";
import { LocalBacktestJobs } from "../queues/local-backtest-jobs";
import { LocalSweepJobs } from "../queues/local-sweep-jobs";
import { backtestEventsKey } from "../queues/backtest-queue";
import { RedisBacktestJobs } from "../queues/redis-backtest-jobs";
import { RedisSnapshotStore } from "../queues/redis-snapshot-store";
import { RedisSweepJobs } from "../queues/redis-sweep-jobs";
import { type SweepJobs, withSweepSnapshots } from "../queues/sweep-jobs";
import type { BacktestNamespace } from "../relay/event-payload";
import { createCompletionRelay } from "../relay/completion-relay";
import { createRedisRelay, resyncFollowedBacktests } from "../relay/redis-relay";
import { createProducerConnection, createPubSubPair, createWorkerConnection } from "../redis/clients";
import { redisConnectionForChild } from "../redis/child-connection";
import { createApp } from "./app";

/** Maximum wait for Redis on one API request before it responds with 503. */
const PRODUCER_COMMAND_TIMEOUT_MS = 2_000;

/** The job layer of one web worker and how to release what it holds. */
interface JobLayer {
  adapter: NonNullable<Partial<ServerOptions>["adapter"]>;
  /** Builds the job layer once the namespace exists. */
  attach(namespace: BacktestNamespace): { jobs: BacktestJobs; sweeps: SweepJobs };
  /** Closes what `attach` opened, after the sockets are closed. */
  close(): Promise<void>;
}

/**
 * Runs one web worker: express and socket.io on the HTTP connections that the primary hands
 * over, joined to the other workers by the Redis adapter, or by the cluster adapter without Redis.
 */
export function runWebWorker(settings: Settings): void {
  const workerLabel = `${settings.instanceId}/${process.pid}`;
  const logger = createLogger({
    level: settings.logLevel,
    role: "web",
    instanceId: settings.instanceId,
    workerId: cluster.worker?.id,
    secrets: settings.redis?.connection.password ? [settings.redis.connection.password] : [],
  });

  configureDataDirectory(settings.dataDir);
  loadStrategiesAtStartup(settings.strategiesDir, logger);
  const layer = settings.redis === undefined ? singleHostLayer(settings, logger) : redisLayer(settings, logger);
  // Express must be the server's request listener before socket.io attaches, so that socket.io
  // handles its own path and passes every other request on to express.
  const handler: { app?: ReturnType<typeof createApp> } = {};
  const httpServer = http.createServer((req, res) => {
    handler.app?.(req, res);
  });
  const io = new Server(httpServer, { serveClient: false, adapter: layer.adapter });
  const namespace: BacktestNamespace = io.of(BACKTEST_NAMESPACE);
  const { jobs, sweeps } = layer.attach(namespace);

  // Subscribers follow a sweep by its id exactly as a backtest.
  registerBacktestHub(namespace, { jobs: withSweepSnapshots(jobs, sweeps), workerLabel, logger });
  handler.app = createApp({ jobs, sweeps, maxUploadBytes: settings.maxUploadBytes, workerLabel, logger, settings });
  setupStickyWorker(io);

  const shutdown = createShutdown(
    [
      // Disconnecting every socket sends clients to another worker; io.close() also closes the
      // HTTP server.
      { name: "close sockets", run: () => io.close() },
      { name: "close job layer", run: () => layer.close() },
    ],
    { timeoutMs: settings.shutdownTimeoutMs, logger, exit: (code) => process.exit(code) },
  );
  onTerminationSignals(shutdown, logger);
  // The Redis adapter subscribes without handling rejections: a fatal connection error such as
  // a wrong password rejects those commands, and the worker leaves rather than run unsubscribed.
  onFatalErrors(shutdown, logger);
  process.on("disconnect", () => void shutdown("primary disconnected"));

  logger.info(
    { worker: workerLabel, mode: settings.redis === undefined ? "single-host" : "redis" },
    "web worker ready",
  );
}

function singleHostLayer(settings: Settings, logger: Logger): JobLayer {
  let jobs: LocalBacktestJobs | undefined;
  let sweeps: LocalSweepJobs | undefined;
  return {
    adapter: createClusterAdapter(),
    attach(namespace) {
      const options = { namespace, concurrency: settings.jobConcurrency, resultTtlS: settings.resultTtlS, logger };
      jobs = new LocalBacktestJobs(options);
      sweeps = new LocalSweepJobs(options);
      return { jobs, sweeps };
    },
    async close() {
      await jobs?.close();
      await sweeps?.close();
    },
  };
}

function redisLayer(settings: Settings, logger: Logger): JobLayer {
  const redis = settings.redis;
  if (redis === undefined) throw new Error("redisLayer needs Redis settings");

  // Five connections, none shared: the adapter's publisher and subscriber, the relay's
  // subscriber, the completion relay's blocking reader, and a fail-fast producer for BullMQ and
  // snapshots.
  const connection = redisConnectionForChild(redis.connection);
  const clientOptions = { connection, logger, maskedAddress: redis.masked };
  const { publisher, subscriber } = createPubSubPair({ ...clientOptions, connectionName: "backplane:web:adapter" });
  const producer = createProducerConnection({
    ...clientOptions,
    connectionName: "backplane:web:producer",
    commandTimeoutMs: PRODUCER_COMMAND_TIMEOUT_MS,
  });
  const relaySubscriber = createWorkerConnection({ ...clientOptions, connectionName: "backplane:web:relay" });
  const completionReader = createWorkerConnection({ ...clientOptions, connectionName: "backplane:web:completions" });

  let jobs: RedisBacktestJobs | undefined;
  let sweeps: RedisSweepJobs | undefined;
  let relay: { close(): Promise<void> } | undefined;
  let completionRelay: { close(): Promise<void> } | undefined;
  return {
    adapter: createRedisAdapter(publisher, subscriber, { key: `${settings.redisPrefix}:socket.io` }),
    attach(namespace) {
      const store = new RedisSnapshotStore(producer, { prefix: settings.redisPrefix, resultTtlS: settings.resultTtlS });
      const options = {
        connection: producer,
        prefix: settings.redisPrefix,
        resultTtlS: settings.resultTtlS,
        commandTimeoutMs: PRODUCER_COMMAND_TIMEOUT_MS,
        maskedAddress: redis.masked,
        logger,
      };
      jobs = new RedisBacktestJobs(options);
      sweeps = new RedisSweepJobs(options);
      const readSnapshot = (id: string) => store.read(id);
      relay = createRedisRelay({
        subscriber: relaySubscriber,
        channel: store.channel,
        namespace,
        readSnapshot,
        logger,
      });
      completionRelay = createCompletionRelay({
        reader: completionReader,
        streamKey: backtestEventsKey(settings.redisPrefix),
        namespace,
        resync: () => void resyncFollowedBacktests({ namespace, readSnapshot, logger }),
        logger,
      });
      return { jobs, sweeps };
    },
    async close() {
      // Unsubscribing only matters on a live connection; while Redis is down the command would
      // wait in the offline queue until the shutdown timeout.
      if (relaySubscriber.status === "ready") await relay?.close();
      await completionRelay?.close();
      await jobs?.close();
      await sweeps?.close();
      for (const client of [relaySubscriber, completionReader, publisher, subscriber, producer]) client.disconnect();
    },
  };
}
