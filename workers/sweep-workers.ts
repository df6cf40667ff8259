import { Job, Worker } from "bullmq";
import type { Redis } from "ioredis";
import type { Logger } from "pino";

import type { ErrorBody } from "../src/hubs/backtest-events";
import { MAX_STALLED_COUNT } from "../src/queues/backtest-queue";
import type { RedisSnapshotStore } from "../src/queues/redis-snapshot-store";
import type { RedisSweepStore } from "../src/queues/redis-sweep-store";
import { SWEEP_CHUNK_QUEUE, SWEEP_QUEUE, type SweepChunkJobData, type SweepJobData } from "../src/queues/sweep-queue";
import { toFailure } from "./failure";
import { createSweepChunkProcessor, createSweepFinishProcessor } from "./sweep-processors";

export interface SweepWorkersOptions {
  /** A worker connection (retrying, offline queue on) for these BullMQ workers only. */
  connection: Redis;
  snapshots: RedisSnapshotStore;
  sweeps: RedisSweepStore;
  prefix: string;
  /** Chunks this process runs at once (JOB_CONCURRENCY). */
  concurrency: number;
  lockDurationMs: number;
  stalledIntervalMs: number;
  logger: Logger;
}

/**
 * Starts the BullMQ workers of sweeps in a job process: one for chunks, one for the parents that
 * finish sweeps. A chunk or parent that fails for good fails its sweep.
 */
export function startSweepWorkers(options: SweepWorkersOptions): { close(): Promise<void> } {
  const { connection, prefix, logger } = options;
  const common = {
    connection,
    prefix,
    lockDuration: options.lockDurationMs,
    stalledInterval: options.stalledIntervalMs,
    maxStalledCount: MAX_STALLED_COUNT,
  };
  const deps = { snapshots: options.snapshots, sweeps: options.sweeps, logger };

  const chunks = new Worker<SweepChunkJobData>(SWEEP_CHUNK_QUEUE, createSweepChunkProcessor(deps), {
    ...common,
    concurrency: options.concurrency,
  });
  const parents = new Worker<SweepJobData>(SWEEP_QUEUE, createSweepFinishProcessor(deps), {
    ...common,
    concurrency: 1,
  });

  const failSweep = (sweepId: string, error: ErrorBody) => {
    options.snapshots.emit({ type: "failed", id: sweepId, error }).catch((err: unknown) => {
      logger.error({ err, sweepId }, "failed event not published");
    });
  };

  for (const worker of [chunks, parents]) {
    worker.on("failed", (job, err) => {
      if (job === undefined) return;
      logger.warn({ err, sweepId: job.data.sweepId, jobId: job.id }, "sweep job failed");
      failSweep(job.data.sweepId, toFailure(err));
    });
    // A job that stalled more often than allowed fails inside BullMQ's stalled check, which
    // emits no local `failed` event; its sweep still needs one.
    worker.on("stalled", (jobId) => {
      logger.warn({ jobId, queue: worker.name }, "sweep job stalled; its job process died or froze");
      void Job.fromId<SweepChunkJobData | SweepJobData>(worker, jobId)
        .then(async (job) => ((await job?.getState()) === "failed" ? job : undefined))
        .then((job) => {
          if (job !== undefined)
            failSweep(job.data.sweepId, { code: "internal", message: `sweep failed: ${job.failedReason}` });
        })
        .catch((err: unknown) => logger.warn({ err, jobId }, "stalled sweep job check failed"));
    });
    worker.on("error", (err) => logger.error({ err, queue: worker.name }, "sweep worker error"));
  }

  logger.info({ queues: [SWEEP_CHUNK_QUEUE, SWEEP_QUEUE], concurrency: options.concurrency }, "sweep workers ready");
  return {
    // A chunk is planned to take about a second, so closing waits for the running ones to
    // finish. When Redis is unreachable, the shutdown timeout cuts the wait short.
    close: async () => {
      await Promise.all([chunks.close(), parents.close()]);
    },
  };
}
