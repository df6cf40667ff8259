/**
 * Entry point of a job process (`npm run jobs`, or forked by the primary): BullMQ workers that
 * run backtests and the chunks of parameter sweeps. Needs Redis; in single-host mode the web
 * workers run both themselves.
 */
import { Job, Queue, Worker } from "bullmq";

import { exitOnConfigError } from "../src/config/exit-on-config-error";
import { loadSettings } from "../src/config/settings";
import { configureDataDirectory } from "../src/data/uploads/upload-store";
import { loadStrategiesAtStartup } from "../src/engine/strategies/load-at-startup";
import { createShutdown, onFatalErrors, onTerminationSignals } from "../src/lifecycle/shutdown";
import { createLogger } from "../src/logging/logger";
import { createRepeatFilter } from "../src/logging/repeat-filter";
import { BACKTEST_QUEUE, BACKTEST_QUEUE_STREAMS, MAX_STALLED_COUNT } from "../src/queues/backtest-queue";
import { startFinishedJobCleaner } from "../src/queues/finished-job-cleaner";
import type { BacktestCompletion } from "../src/queues/backtest-completion";
import type { BacktestRequest } from "../src/queues/backtest-request";
import { RedisSnapshotStore } from "../src/queues/redis-snapshot-store";
import { RedisSweepStore } from "../src/queues/redis-sweep-store";
import { createWorkerConnection, DEFAULT_ERROR_LOG_INTERVAL_MS } from "../src/redis/clients";
import { redisConnectionForChild } from "../src/redis/child-connection";
import { createBacktestProcessor } from "./backtest-processor";
import { toFailure } from "./failure";
import { startSweepWorkers } from "./sweep-workers";

const settings = exitOnConfigError(() => loadSettings(process.env));
configureDataDirectory(settings.dataDir);
const logger = createLogger({
  level: settings.logLevel,
  role: "jobs",
  instanceId: settings.instanceId,
  secrets: settings.redis?.connection.password ? [settings.redis.connection.password] : [],
});
loadStrategiesAtStartup(settings.strategiesDir, logger);

if (settings.redis === undefined) {
  logger.fatal(
    "job processes need Redis: set ConnectionStrings__Redis or REDIS_URL. Without Redis, npm start runs backtests in the web workers' threads.",
  );
  process.exit(1);
}

const connection = redisConnectionForChild(settings.redis.connection);
const clientOptions = { connection, logger, maskedAddress: settings.redis.masked };
const eventsConnection = createWorkerConnection({ ...clientOptions, connectionName: "backplane:jobs:events" });
const workerConnection = createWorkerConnection({ ...clientOptions, connectionName: "backplane:jobs:worker" });
const sweepConnection = createWorkerConnection({ ...clientOptions, connectionName: "backplane:jobs:sweeps" });
// Backtest events share the Worker's connection, one connection fewer per job process; the
// processor waits for its progress events before it returns the result. Sweeps keep their own.
const store = new RedisSnapshotStore(workerConnection, {
  prefix: settings.redisPrefix,
  resultTtlS: settings.resultTtlS,
});
const sweepSnapshots = new RedisSnapshotStore(eventsConnection, {
  prefix: settings.redisPrefix,
  resultTtlS: settings.resultTtlS,
});

const processor = createBacktestProcessor(store, logger);
const worker = new Worker<BacktestRequest, BacktestCompletion | undefined>(BACKTEST_QUEUE, processor, {
  connection: workerConnection,
  prefix: settings.redisPrefix,
  concurrency: settings.jobConcurrency,
  lockDuration: settings.lockDurationMs,
  stalledInterval: settings.stalledIntervalMs,
  maxStalledCount: MAX_STALLED_COUNT,
});

worker.on("completed", (job, completion) => {
  if (completion === undefined) return;
  logger.info({ backtestId: job.id, trades: completion.result.stats.trades }, "backtest completed");
});

worker.on("failed", (job, err) => {
  if (job?.id === undefined) return;
  logger.warn({ err, backtestId: job.id }, "backtest failed");
  store.emit({ type: "failed", id: job.id, error: toFailure(err) }).catch((emitErr: unknown) => {
    logger.error({ err: emitErr, backtestId: job.id }, "failed event not published");
  });
});

// A job that stalled more often than allowed is failed inside BullMQ's stalled check, which
// emits no local `failed` event; its subscribers still need one.
worker.on("stalled", (jobId) => {
  logger.warn({ backtestId: jobId }, "backtest stalled; its job process died or froze");
  void Job.fromId(worker, jobId)
    .then(async (job) => ((await job?.getState()) === "failed" ? job : undefined))
    .then((job) => {
      if (job === undefined) return;
      return store.emit({
        type: "failed",
        id: jobId,
        error: { code: "internal", message: `backtest failed: ${job.failedReason}` },
      });
    })
    .catch((err: unknown) => logger.warn({ err, backtestId: jobId }, "stalled job check failed"));
});
// BullMQ reports each failed reconnection here as well, on top of the Redis client's own
// rate-limited lines, so repeats are counted instead of printed.
const workerErrors = createRepeatFilter(DEFAULT_ERROR_LOG_INTERVAL_MS);
worker.on("error", (err) => {
  const suppressed = workerErrors.admit(err.message);
  if (suppressed !== undefined) logger.error({ err, suppressed }, "job worker error");
});

// A completed backtest job contains its result, so finished jobs must go once the result's time
// to live has passed, even when no later job finishes.
const backtestQueue = new Queue(BACKTEST_QUEUE, {
  connection: eventsConnection,
  prefix: settings.redisPrefix,
  streams: BACKTEST_QUEUE_STREAMS,
});
backtestQueue.on("error", (err) => logger.warn({ err }, "backtest queue error"));
const cleaner = startFinishedJobCleaner({ queue: backtestQueue, maxAgeS: settings.resultTtlS, logger });

const sweepWorkers = startSweepWorkers({
  connection: sweepConnection,
  snapshots: sweepSnapshots,
  sweeps: new RedisSweepStore(eventsConnection, { prefix: settings.redisPrefix, resultTtlS: settings.resultTtlS }),
  prefix: settings.redisPrefix,
  concurrency: settings.jobConcurrency,
  lockDurationMs: settings.lockDurationMs,
  stalledIntervalMs: settings.stalledIntervalMs,
  logger,
});

const shutdown = createShutdown(
  [
    // Running backtests stop at their next chunk and go back to the wait list, so close() only
    // waits that long. When Redis is unreachable close() can hang; the timeout then forces the
    // exit, and BullMQ's stalled check hands the jobs over once their locks expire.
    {
      name: "close job worker",
      run: async () => {
        processor.drain();
        await worker.close();
      },
    },
    { name: "close sweep workers", run: () => sweepWorkers.close() },
    {
      name: "close backtest queue",
      run: async () => {
        cleaner.stop();
        await backtestQueue.close();
      },
    },
    {
      name: "close Redis connections",
      run: () => void [eventsConnection, workerConnection, sweepConnection].forEach((client) => client.disconnect()),
    },
  ],
  { timeoutMs: settings.shutdownTimeoutMs, logger, exit: (code) => process.exit(code) },
);
onTerminationSignals(shutdown, logger);
onFatalErrors(shutdown, logger);
process.on("disconnect", () => void shutdown("primary disconnected"));

logger.info(
  { queue: BACKTEST_QUEUE, concurrency: settings.jobConcurrency, redis: settings.redis.masked },
  "job process ready",
);
