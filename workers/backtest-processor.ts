import { WaitingError, type Job } from "bullmq";
import type { Logger } from "pino";

import type { BacktestCompletion } from "../src/queues/backtest-completion";
import type { BacktestRequest } from "../src/queues/backtest-request";
import type { RedisSnapshotStore } from "../src/queues/redis-snapshot-store";
import { executeBacktest } from "./execute-backtest";

/** How often a running backtest checks Redis for a cancel request, in milliseconds. */
const CANCEL_POLL_MS = 250;

export interface BacktestProcessor {
  (job: Job<BacktestRequest, BacktestCompletion | undefined>, token?: string): Promise<BacktestCompletion | undefined>;
  /**
   * Stops every running backtest between two chunks of bars and puts its job back in the wait
   * list, so that another job process restarts it at once instead of after the lock expires.
   */
  drain(): void;
}

/**
 * Builds the BullMQ processor of backtest jobs. Progress and `cancelled` go through the snapshot
 * store, which numbers and publishes them. A completed backtest's result is the processor's return
 * value: BullMQ stores it and appends it to the queue's events stream in the command that
 * completes the job, so completing costs no command of the product's own, and a result is stored
 * exactly when its job completes. Failures are emitted by the worker's `failed` listener instead,
 * so that BullMQ decides when a job has failed for good.
 */
export function createBacktestProcessor(store: RedisSnapshotStore, logger: Logger): BacktestProcessor {
  let draining = false;
  const cancelPoll = createCancelPoll(store);

  const processor = async (
    job: Job<BacktestRequest, BacktestCompletion | undefined>,
    token?: string,
  ): Promise<BacktestCompletion | undefined> => {
    const id = job.id;
    if (id === undefined) throw new Error("backtest job has no id");
    const log = logger.child({ backtestId: id, attempt: job.attemptsMade + 1 });

    // The seq of the last event emitted for this backtest, by this attempt or an earlier one.
    let lastSeq = 0;
    // A job started again (after a stall, or handed back by a stopping job process) may have
    // ended or been cancelled meanwhile. On a first start the cancel poll below is enough: the
    // API removes a waiting job itself when it is cancelled.
    if (job.attemptsStarted > 1) {
      const start = await store.readStart(id);
      if (start.ended) return undefined;
      if (start.cancelRequested) {
        await store.emit({ type: "cancelled", id });
        return undefined;
      }
      lastSeq = start.seq;
    }

    const run = cancelPoll.watch(id);

    // Progress is sent without waiting: commands on one connection keep their order, and the
    // terminal event below waits for all of them.
    let lastProgress: Promise<unknown> = Promise.resolve();
    let progressLost = false;
    log.info({ dataset: job.data.dataset, strategy: job.data.strategy }, "backtest started");
    try {
      const outcome = await executeBacktest(job.data, {
        progress: (processed, total) => {
          lastProgress = store.emit({ type: "progress", id, processed, total }).then(
            (seq) => (lastSeq = Math.max(lastSeq, seq)),
            (err: unknown) => {
              progressLost = true;
              log.warn({ err }, "progress event not published");
            },
          );
        },
        isCancelled: () => run.cancelled || draining,
      });
      // Waiting here also keeps the order for subscribers: Redis has published the last progress
      // event before BullMQ sends the command that completes the job.
      await lastProgress;

      if (outcome.status === "cancelled" && draining && !run.cancelled) {
        // Logged once the job is back in the wait list: without Redis, moveToWait() waits, and
        // the job is left to the stalled check instead.
        await job.moveToWait(token);
        log.info("backtest handed back to the queue for another job process");
        throw new WaitingError();
      }

      if (outcome.status === "cancelled") {
        await store.emit({ type: "cancelled", id });
        log.info("backtest cancelled");
        return undefined;
      }
      // A progress event whose reply was lost may still have been numbered in Redis.
      if (progressLost) lastSeq = await store.readSeq(id);
      return { seq: lastSeq + 1, total: outcome.total, result: outcome.result };
    } finally {
      cancelPoll.unwatch(id, run);
    }
  };

  return Object.assign(processor, {
    drain() {
      draining = true;
    },
  });
}

/** The cancel state of one running backtest, which the poll updates. */
interface WatchedRun {
  cancelled: boolean;
}

/**
 * Polls the cancel flags of every backtest that this job process runs, in one round trip per
 * interval rather than one timer and one command per backtest. The timer stops itself at the first
 * tick with nothing to watch, so back-to-back short jobs share it.
 */
function createCancelPoll(store: RedisSnapshotStore) {
  const runs = new Map<string, WatchedRun>();
  let timer: NodeJS.Timeout | undefined;

  const poll = () => {
    if (runs.size === 0) {
      clearInterval(timer);
      timer = undefined;
      return;
    }
    const watched = [...runs];
    store.readCancelRequests(watched.map(([id]) => id)).then(
      (flags) => {
        flags.forEach((requested, index) => {
          const run = watched[index]?.[1];
          if (requested && run !== undefined) run.cancelled = true;
        });
      },
      // A failed read is tried again at the next tick, and the Worker's error log reports a lost
      // connection already.
      () => undefined,
    );
  };

  return {
    watch(id: string): WatchedRun {
      const run: WatchedRun = { cancelled: false };
      runs.set(id, run);
      // Unreferenced: a running job keeps the process alive by itself.
      timer ??= setInterval(poll, CANCEL_POLL_MS).unref();
      return run;
    },
    unwatch(id: string, run: WatchedRun): void {
      if (runs.get(id) === run) runs.delete(id);
    },
  };
}
