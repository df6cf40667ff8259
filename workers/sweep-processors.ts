import type { Job } from "bullmq";
import type { Logger } from "pino";

import { loadCandles } from "../src/data/datasets";
import { isTerminal, type RedisSnapshotStore } from "../src/queues/redis-snapshot-store";
import type { RedisSweepStore } from "../src/queues/redis-sweep-store";
import type { SweepChunkJobData, SweepJobData } from "../src/queues/sweep-queue";
import { combinationRequest, gridAxes } from "../src/queues/sweep-request";
import { BEST_SIZE, noValidCombination, rankResults, summarizeSweep } from "../src/queues/sweep-results";
import { executeBacktest } from "./execute-backtest";
import { evaluateChunk } from "./sweep-chunk";

/** How often a running chunk checks Redis for a cancel request, in milliseconds. */
const CANCEL_POLL_MS = 250;

/** Shortest time between two progress events of one sweep, in milliseconds. */
const PROGRESS_INTERVAL_MS = 100;

export interface SweepProcessorDeps {
  snapshots: RedisSnapshotStore;
  sweeps: RedisSweepStore;
  logger: Logger;
}

/**
 * Builds the processor of chunk jobs: it backtests the chunk's combinations, records the result
 * in the sweep's hash and, when one is due, publishes a progress event with the best five so far.
 * A chunk of a sweep that has ended returns without running.
 */
export function createSweepChunkProcessor({ snapshots, sweeps, logger }: SweepProcessorDeps) {
  return async (job: Job<SweepChunkJobData>): Promise<void> => {
    const { sweepId, request, chunk } = job.data;
    const log = logger.child({ sweepId, chunk: chunk.chunk, attempt: job.attemptsMade + 1 });

    const before = await snapshots.read(sweepId);
    if (before === undefined || isTerminal(before.state)) {
      log.info({ state: before?.state }, "sweep chunk skipped: the sweep has ended");
      return;
    }

    let cancelled = false;
    const poll = setInterval(() => {
      snapshots.isCancelRequested(sweepId).then(
        (requested) => (cancelled ||= requested),
        () => undefined,
      );
    }, CANCEL_POLL_MS);
    try {
      const candles = await loadCandles(request.dataset, request.resample);
      const result = await evaluateChunk(request, candles, chunk, { isCancelled: () => cancelled });
      if (result === undefined) {
        await snapshots.emit({ type: "cancelled", id: sweepId });
        log.info("sweep chunk stopped: the sweep was cancelled");
        return;
      }

      const candidates = rankResults([result], gridAxes(request), request.rankBy, request.order, BEST_SIZE);
      const recorded = await sweeps.recordChunk(sweepId, result, candidates, request, PROGRESS_INTERVAL_MS);
      if (recorded.due) {
        await snapshots.emit({
          type: "progress",
          id: sweepId,
          processed: recorded.processed,
          total: recorded.total,
          best: recorded.best,
        });
      }
      log.info(
        { combinations: chunk.count, invalid: result.invalid, processed: recorded.processed, total: recorded.total },
        "sweep chunk done",
      );
    } finally {
      clearInterval(poll);
    }
  };
}

/**
 * Builds the processor of sweep parents, which BullMQ starts once every chunk has completed: it
 * ranks the results, reruns the best combination in full for its trades and equity curve, and
 * publishes `completed` with the ranking in `result.sweep`.
 */
export function createSweepFinishProcessor({ snapshots, sweeps, logger }: SweepProcessorDeps) {
  return async (job: Job<SweepJobData>): Promise<void> => {
    const id = job.data.sweepId;
    const log = logger.child({ sweepId: id });

    const before = await snapshots.read(id);
    if (before === undefined || isTerminal(before.state)) return;
    const stored = await sweeps.read(id);
    if (stored === undefined)
      throw new Error(`the results of sweep ${id} expired before it finished; raise RESULT_TTL_S`);
    const recorded = stored.results.reduce((sum, result) => sum + result.count, 0);
    if (recorded !== stored.total)
      throw new Error(`sweep ${id} has results for ${recorded} of ${stored.total} combinations`);

    const summary = summarizeSweep(stored.request, gridAxes(stored.request), stored.results);
    const best = summary.ranking[0];
    if (best === undefined) {
      await snapshots.emit({ type: "failed", id, error: noValidCombination(summary) });
      log.info({ invalid: summary.invalid }, "sweep failed: no valid combination");
      return;
    }

    const outcome = await executeBacktest(combinationRequest(stored.request, best.params), {
      progress: () => undefined,
      isCancelled: () => false,
    });
    if (outcome.status === "cancelled") return;
    await snapshots.emit({ type: "completed", id, total: stored.total, result: { ...outcome.result, sweep: summary } });
    await sweeps.touch(id);
    log.info({ evaluated: summary.evaluated, invalid: summary.invalid, best: best.params }, "sweep completed");
  };
}
