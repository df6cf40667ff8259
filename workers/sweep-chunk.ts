import { setImmediate as yieldToEventLoop } from "node:timers/promises";

import type { Candles } from "../src/data/candles";
import { createCombinationEvaluator, EngineInputError } from "../src/engine";
import { brokerOptionsOf } from "../src/queues/backtest-request";
import {
  type SweepChunk,
  type SweepRequest,
  combinationAt,
  combinationRequest,
  gridAxes,
} from "../src/queues/sweep-request";
import type { ChunkResult } from "../src/queues/sweep-results";

/** Maximum time spent in synchronous backtests before the event loop gets a turn, in milliseconds. */
const YIELD_EVERY_MS = 50;

/** Rejected combinations whose reason a chunk keeps. */
const INVALID_EXAMPLES = 5;

export interface ChunkControl {
  /** Polled between combinations; true stops the chunk. */
  isCancelled(): boolean;
}

/**
 * Backtests the combinations of one chunk of a sweep on `candles` and returns their numeric
 * statistics. A combination that the strategy rejects (`EngineInputError`, such as fast ≥ slow)
 * is counted as invalid and skipped; any other error fails the whole chunk. Returns undefined when
 * `control` cancels it. Yields to the event loop every 50 ms, so a job process keeps renewing
 * its BullMQ locks.
 *
 * This is the one place that runs sweep combinations, in job processes and in threads alike. The
 * engine's combination evaluator reuses its buffers and caches indicators across combinations.
 */
export async function evaluateChunk(
  request: SweepRequest,
  candles: Candles,
  chunk: SweepChunk,
  control: ChunkControl,
): Promise<ChunkResult | undefined> {
  const axes = gridAxes(request);
  const result: ChunkResult = {
    chunk: chunk.chunk,
    first: chunk.first,
    count: chunk.count,
    stats: [],
    rows: [],
    invalid: 0,
    invalidExamples: [],
  };
  // Every combination of a sweep shares the request's broker options; only the params differ.
  const evaluator = createCombinationEvaluator(
    candles,
    request.strategy,
    brokerOptionsOf(combinationRequest(request, {})),
  );
  let sliceStartedAt = performance.now();

  for (let index = chunk.first; index < chunk.first + chunk.count; index++) {
    if (performance.now() - sliceStartedAt >= YIELD_EVERY_MS) {
      await yieldToEventLoop();
      sliceStartedAt = performance.now();
    }
    if (control.isCancelled()) return undefined;

    const backtest = combinationRequest(request, combinationAt(axes, index));
    let stats: Record<string, unknown>;
    try {
      stats = evaluator.evaluate(evaluator.parse(backtest.params, index));
    } catch (err) {
      if (!(err instanceof EngineInputError)) throw err;
      result.rows.push(null);
      result.invalid++;
      if (result.invalidExamples.length < INVALID_EXAMPLES) result.invalidExamples.push({ index, reason: err.message });
      continue;
    }

    if (result.stats.length === 0) result.stats = numericStatNames(stats);
    result.rows.push(result.stats.map((name) => numberOrNull(stats[name])));
  }
  return result;
}

function numericStatNames(stats: Record<string, unknown>): string[] {
  return Object.keys(stats).filter((name) => typeof stats[name] === "number" || stats[name] === null);
}

function numberOrNull(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}
