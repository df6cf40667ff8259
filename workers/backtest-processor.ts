import { WaitingError, type Job } from "bullmq";
import type { Logger } from "pino";

import type { BacktestRequest } from "../src/queues/backtest-request";
import type { RedisSnapshotStore } from "../src/queues/redis-snapshot-store";
import { executeBacktest } from "./execute-backtest";

/** How often a running backtest checks Redis for a cancel request, in milliseconds. */
const CANCEL_POLL_MS = 250;

export interface BacktestProcessor {
  (job: Job<BacktestRequest>, token?: string): Promise<void>;
  /**
   * Stops every running backtest between two chunks of bars and puts its job back in the wait
   * list, so that another job process restarts it at once instead of after the lock expires.
   */
  drain(): void;
}

/**
 * Builds the BullMQ processor of backtest jobs. Events go through the snapshot store, which
 * numbers and publishes them; failures are emitted by the worker's `failed` listener instead,
 * so that BullMQ decides when a job has failed for good. The store must use the Worker's own
 * connection: the processor returns before `completed` is acknowledged and relies on that
 * connection's order.
 */
export function createBacktestProcessor(store: RedisSnapshotStore, logger: Logger): BacktestProcessor {
  let draining = false;

  const processor = async (job: Job<BacktestRequest>, token?: string): Promise<void> => {
    const id = job.id;
    if (id === undefined) throw new Error("backtest job has no id");
    const log = logger.child({ backtestId: id, attempt: job.attemptsMade + 1 });

    // A job started again (after a stall, or handed back by a stopping job process) may have
    // ended or been cancelled meanwhile. On a first start the cancel poll below is enough: the
    // API removes a waiting job itself when it is cancelled.
    if (job.attemptsStarted > 1) {
      const start = await store.readStart(id);
      if (start.ended) return;
      if (start.cancelRequested) {
        await store.emit({ type: "cancelled", id });
        return;
      }
    }

    let cancelled = false;
    const poll = setInterval(() => {
      store.isCancelRequested(id).then(
        (requested) => (cancelled ||= requested),
        () => undefined,
      );
    }, CANCEL_POLL_MS);

    // Progress is sent without waiting: commands on one connection keep their order, and the
    // terminal event below waits for all of them.
    let lastProgress: Promise<unknown> = Promise.resolve();
    log.info({ dataset: job.data.dataset, strategy: job.data.strategy }, "backtest started");
    try {
      const outcome = await executeBacktest(job.data, {
        progress: (processed, total) => {
          lastProgress = store.emit({ type: "progress", id, processed, total }).catch((err: unknown) => {
            log.warn({ err }, "progress event not published");
          });
        },
        isCancelled: () => cancelled || draining,
      });
      await lastProgress;

      if (outcome.status === "cancelled" && draining && !cancelled) {
        // Logged once the job is back in the wait list: without Redis, moveToWait() waits, and
        // the job is left to the stalled check instead.
        await job.moveToWait(token);
        log.info("backtest handed back to the queue for another job process");
        throw new WaitingError();
      }

      if (outcome.status === "cancelled") {
        await store.emit({ type: "cancelled", id });
        log.info("backtest cancelled");
        return;
      }
      // Not awaited: the store sends the result before this function's caller, BullMQ, sends the
      // command that completes and removes the job. Both use one connection (workers/main.ts), so
      // Redis stores the result first, and no job waits for one more round trip.
      // NOTE: should the script itself fail (a Lua error, not a lost connection, whose commands
      // ioredis sends again in order), the job still completes and no terminal event follows.
      store.emit({ type: "completed", id, total: outcome.total, result: outcome.result, request: job.data }).then(
        () => log.info({ trades: outcome.result.stats.trades }, "backtest completed"),
        (err: unknown) => log.error({ err }, "backtest result not stored; its subscribers get no completed event"),
      );
    } finally {
      clearInterval(poll);
    }
  };

  return Object.assign(processor, {
    drain() {
      draining = true;
    },
  });
}
