import { describe, expect, it } from "vitest";

import {
  EngineInputError,
  IndicatorCache,
  createCombinationEvaluator,
  evaluateCombinations,
  expandParamGrid,
  getStrategy,
  runBacktestSync,
} from "../../src/engine";
import { sineCandles } from "./synthetic-candles";

const candles = sineCandles(5_000, 150);
const BROKER = { fractional: true, commission: 0.001 };
const COMBINATIONS = [
  { fast: 5, slow: 20 },
  { fast: 10, slow: 30 },
  { fast: 5, slow: 50 },
  { fast: 20, slow: 60 },
];

describe("evaluateCombinations", () => {
  it("returns the statistics of a single backtest for each combination", async () => {
    const outcome = await evaluateCombinations(candles, "sma-cross", COMBINATIONS, BROKER);

    expect(outcome.status).toBe("completed");
    expect(outcome.evaluated).toBe(4);
    for (const [k, params] of COMBINATIONS.entries()) {
      const single = runBacktestSync({ candles, strategy: "sma-cross", params, broker: BROKER });
      expect(outcome.results[k]).toEqual({ index: k, params, stats: single.stats });
    }
  });

  it("ranks by a statistic and keeps the top results", async () => {
    const all = await evaluateCombinations(candles, "sma-cross", COMBINATIONS, BROKER);
    const ranked = await evaluateCombinations(candles, "sma-cross", COMBINATIONS, BROKER, { rankBy: "sharpe", top: 2 });

    const sharpes = all.results.map((result) => result.stats.sharpe as number).sort((a, b) => b - a);
    expect(ranked.results.map((result) => result.stats.sharpe)).toEqual(sharpes.slice(0, 2));

    const ascending = await evaluateCombinations(candles, "sma-cross", COMBINATIONS, BROKER, {
      rankBy: "maxDrawdownPct",
      order: "asc",
    });
    const drawdowns = ascending.results.map((result) => result.stats.maxDrawdownPct as number);
    expect(drawdowns).toEqual([...drawdowns].sort((a, b) => a - b));
  });

  it("reuses indicators across combinations", async () => {
    const indicators = new IndicatorCache(candles);
    await evaluateCombinations(candles, "sma-cross", COMBINATIONS, BROKER, { indicators });
    // SMA 5, 10, 20, 30, 50 and 60 are computed once each; SMA(5) is reused.
    expect(indicators.counters).toMatchObject({ misses: 6, hits: 2 });
  });

  it("reports progress and ends with evaluated equal to total", async () => {
    const calls: Array<[number, number]> = [];
    await evaluateCombinations(candles, "sma-cross", COMBINATIONS, BROKER, {
      onProgress: (evaluated, total) => calls.push([evaluated, total]),
    });
    expect(calls.at(-1)).toEqual([4, 4]);
    expect(calls.filter(([evaluated, total]) => evaluated === total)).toHaveLength(1);
  });

  it("stops between combinations when cancelled", async () => {
    let evaluations = 0;
    const outcome = await evaluateCombinations(candles, "sma-cross", COMBINATIONS, BROKER, {
      isCancelled: () => evaluations++ >= 2,
    });
    expect(outcome.status).toBe("cancelled");
    expect(outcome.evaluated).toBe(2);
    expect(outcome.results.map((result) => result.index)).toEqual([0, 1]);
  });

  it("stops when the signal aborts", async () => {
    const controller = new AbortController();
    controller.abort();
    const outcome = await evaluateCombinations(candles, "sma-cross", COMBINATIONS, BROKER, {
      signal: controller.signal,
    });
    expect(outcome).toEqual({ status: "cancelled", evaluated: 0, results: [] });
  });

  it("rejects an invalid combination before running any", async () => {
    const run = evaluateCombinations(
      candles,
      "sma-cross",
      [
        { fast: 5, slow: 20 },
        { fast: 30, slow: 20 },
      ],
      BROKER,
    );
    await expect(run).rejects.toBeInstanceOf(EngineInputError);
    await expect(run).rejects.toMatchObject({
      field: "paramsList[1].fast",
      message: /Combination 1: .*less than slow/,
    });
  });

  it("rejects invalid broker options", async () => {
    const run = evaluateCombinations(candles, "sma-cross", COMBINATIONS, { spread: 1 });
    await expect(run).rejects.toMatchObject({ field: "broker.spread" });
  });

  it("rejects an indicator cache of other candles", () => {
    const other = new IndicatorCache(sineCandles(100));
    expect(() => createCombinationEvaluator(candles, "sma-cross", {}, other)).toThrow(/belongs to other candles/);
  });
});

describe("expandParamGrid", () => {
  it("keeps the valid combinations of a range product", () => {
    const grid = expandParamGrid(getStrategy("sma-cross"), { fast: { from: 5, to: 15, step: 5 }, slow: [10, 20] });

    expect(grid.combinations).toEqual([
      { fast: 5, slow: 10 },
      { fast: 5, slow: 20 },
      { fast: 10, slow: 20 },
      { fast: 15, slow: 20 },
    ]);
    // 10/10 and 15/10 have fast ≥ slow.
    expect(grid.skipped).toBe(2);
  });

  it("steps fractional ranges without drift", () => {
    const grid = expandParamGrid(getStrategy("bollinger"), { k: { from: 1, to: 2, step: 0.1 } });
    expect(grid.combinations.map((combination) => combination["k"])).toHaveLength(11);
    expect(grid.combinations.at(-1)).toEqual({ k: 2 });
  });

  it.each([
    [{ fast: { from: 10, to: 5 } }, "grid.fast"],
    [{ fast: { from: 1, to: 5, step: 0 } }, "grid.fast"],
    [{ fast: [] }, "grid.fast"],
    [{ fast: { from: 1, to: 1_000 }, slow: { from: 1, to: 1_000 } }, "grid"],
  ])("rejects %j", (ranges, field) => {
    expect(() => expandParamGrid(getStrategy("sma-cross"), ranges)).toThrow(EngineInputError);
    try {
      expandParamGrid(getStrategy("sma-cross"), ranges);
    } catch (error) {
      expect((error as EngineInputError).field).toBe(field);
    }
  });
});
