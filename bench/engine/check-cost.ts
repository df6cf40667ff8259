/**
 * Direct cost of the progress and cancellation checks, measured without the bars around them, so
 * that it does not drown in the run-to-run noise of a shared machine.
 */
import { setImmediate as yieldToEventLoop } from "node:timers/promises";

import { PROGRESS_INTERVAL_MS } from "../../src/engine";
import { median, round } from "./measure";

export interface CheckCost {
  /** What runBacktest does between two chunks: cancellation check, clock read, throttled progress call and a yield to the event loop. */
  perChunkUs: number;
  /** What evaluateCombinations does after each combination besides yielding: cancellation check, clock read and throttled progress call. */
  perCombinationUs: number;
  /** One yield to the event loop, which evaluateCombinations makes every 50 ms. */
  perYieldUs: number;
}

/** Times each step `iterations` times, five rounds, and keeps the median round. */
export async function measureCheckCost(iterations: number): Promise<CheckCost> {
  const rounds = { chunk: [] as number[], combination: [] as number[], yield: [] as number[] };
  for (let round = 0; round < 5; round++) {
    rounds.chunk.push(await perIterationUs(iterations, true));
    rounds.combination.push(await perIterationUs(iterations, false));
    rounds.yield.push(await yieldUs(iterations));
  }
  return {
    perChunkUs: round(median(rounds.chunk)),
    perCombinationUs: round(median(rounds.combination)),
    perYieldUs: round(median(rounds.yield)),
  };
}

async function perIterationUs(iterations: number, withYield: boolean): Promise<number> {
  let cancelled = false;
  let lastProgressAt = -Infinity;
  let progressCalls = 0;
  const isCancelled = (): boolean => cancelled;
  const onProgress = (): void => {
    progressCalls++;
  };

  const started = performance.now();
  for (let k = 0; k < iterations; k++) {
    cancelled = isCancelled();
    if (cancelled) break;
    const now = performance.now();
    if (now - lastProgressAt >= PROGRESS_INTERVAL_MS) {
      lastProgressAt = now;
      onProgress();
    }
    if (withYield) await yieldToEventLoop();
  }
  const elapsedUs = ((performance.now() - started) * 1000) / iterations;
  return progressCalls > 0 ? elapsedUs : NaN;
}

async function yieldUs(iterations: number): Promise<number> {
  const started = performance.now();
  for (let k = 0; k < iterations; k++) await yieldToEventLoop();
  return ((performance.now() - started) * 1000) / iterations;
}
