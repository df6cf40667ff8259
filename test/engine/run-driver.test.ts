import { describe, expect, it } from "vitest";

import { CHUNK_BARS, EngineInputError, PROGRESS_INTERVAL_MS, runBacktest, runBacktestSync } from "../../src/engine";
import { sineCandles } from "./synthetic-candles";

const INPUT = { strategy: "sma-cross", params: { fast: 5, slow: 20 }, broker: { fractional: true } };

interface ProgressCall {
  processed: number;
  total: number;
  at: number;
}

function recorder(): { calls: ProgressCall[]; onProgress: (processed: number, total: number) => void } {
  const calls: ProgressCall[] = [];
  return { calls, onProgress: (processed, total) => calls.push({ processed, total, at: performance.now() }) };
}

describe("runBacktest driver", () => {
  it("returns the same result as the synchronous run", async () => {
    const candles = sineCandles(3 * CHUNK_BARS + 123);
    const outcome = await runBacktest({ candles, ...INPUT });
    expect(outcome.status).toBe("completed");
    if (outcome.status !== "completed") return;

    expect(outcome.result.stats).toEqual(runBacktestSync({ candles, ...INPUT }).stats);
    expect(outcome.result.stats.trades).toBeGreaterThan(100);
    expect(outcome.result.equity.equity.length).toBeLessThanOrEqual(2000);
  });

  it("ends progress with processed equal to total", async () => {
    const candles = sineCandles(3 * CHUNK_BARS + 123);
    const progress = recorder();
    await runBacktest({ candles, ...INPUT }, { onProgress: progress.onProgress });

    expect(progress.calls.length).toBeGreaterThanOrEqual(1);
    expect(progress.calls.at(-1)).toMatchObject({ processed: candles.length, total: candles.length });
    expect(progress.calls.filter((call) => call.processed === call.total)).toHaveLength(1);
  });

  it("throttles paced progress to about ten calls a second", async () => {
    // 4,000 bars at 8,000 bars/s: half a second in chunks of 400 bars, one every 50 ms.
    const candles = sineCandles(4_000);
    const progress = recorder();
    const started = performance.now();
    await runBacktest({ candles, ...INPUT }, { onProgress: progress.onProgress, barsPerSecond: 8_000 });
    const elapsed = performance.now() - started;

    const intermediate = progress.calls.slice(0, -1);
    expect(intermediate.length).toBeGreaterThanOrEqual(2);
    // One call right after the first chunk, then at most one per interval, then the final call.
    expect(progress.calls.length).toBeLessThanOrEqual(Math.floor(elapsed / PROGRESS_INTERVAL_MS) + 2);
    for (let k = 1; k < intermediate.length; k++) {
      const gap = (intermediate[k] as ProgressCall).at - (intermediate[k - 1] as ProgressCall).at;
      expect(gap).toBeGreaterThanOrEqual(PROGRESS_INTERVAL_MS * 0.9);
      expect((intermediate[k] as ProgressCall).processed).toBeGreaterThan(
        (intermediate[k - 1] as ProgressCall).processed,
      );
    }
    expect(progress.calls.at(-1)).toMatchObject({ processed: 4_000, total: 4_000 });
  });

  it("honours barsPerSecond", async () => {
    const candles = sineCandles(3_000);
    const started = performance.now();
    const outcome = await runBacktest({ candles, ...INPUT }, { barsPerSecond: 6_000 });
    const elapsed = performance.now() - started;

    expect(outcome.status).toBe("completed");
    // 3,000 bars at 6,000 bars/s take 500 ms; only a loose lower bound is safe on a busy machine.
    expect(elapsed).toBeGreaterThanOrEqual(0.6 * 500);
  });

  it("stops between chunks when isCancelled turns true", async () => {
    const candles = sineCandles(4 * CHUNK_BARS);
    let chunksSeen = 0;
    const outcome = await runBacktest(
      { candles, ...INPUT },
      {
        onProgress: () => chunksSeen++,
        isCancelled: () => chunksSeen >= 1,
      },
    );

    expect(outcome).toEqual({ status: "cancelled", processed: CHUNK_BARS });
  });

  it("stops a paced run when the signal aborts", async () => {
    // Paced to 10 seconds: the abort after 100 ms must end it long before.
    const candles = sineCandles(10_000);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = performance.now();
    const outcome = await runBacktest({ candles, ...INPUT }, { barsPerSecond: 1_000, signal: controller.signal });

    expect(outcome.status).toBe("cancelled");
    if (outcome.status === "cancelled") expect(outcome.processed).toBeLessThan(candles.length);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it("does not start when cancelled up front", async () => {
    const outcome = await runBacktest({ candles: sineCandles(1_000), ...INPUT }, { isCancelled: () => true });
    expect(outcome).toEqual({ status: "cancelled", processed: 0 });
  });

  it("rejects a non-positive barsPerSecond", async () => {
    const run = runBacktest({ candles: sineCandles(100), ...INPUT }, { barsPerSecond: 0 });
    await expect(run).rejects.toBeInstanceOf(EngineInputError);
    await expect(run).rejects.toMatchObject({ field: "barsPerSecond" });
  });
});
