import { describe, expect, it } from "vitest";

import { MAX_EQUITY_POINTS, downsampleIndices, fullEquityCurve, runBacktestSync } from "../../src/engine";
import { sineCandles } from "./synthetic-candles";

describe("downsampleIndices", () => {
  it("keeps a short series whole", () => {
    expect(downsampleIndices(Float64Array.from([3, 1, 2]), 10)).toEqual([0, 1, 2]);
  });

  it("keeps ends and extremes of a long series", () => {
    const values = new Float64Array(100_003).map((_, i) => Math.sin(i / 500) * 100 + i / 1000);
    values[54_321] = -1_000;
    values[77_777] = 5_000;
    const indices = downsampleIndices(values, MAX_EQUITY_POINTS);

    expect(indices.length).toBeLessThanOrEqual(MAX_EQUITY_POINTS);
    expect(indices[0]).toBe(0);
    expect(indices.at(-1)).toBe(values.length - 1);
    expect(indices).toContain(54_321);
    expect(indices).toContain(77_777);
    for (let k = 1; k < indices.length; k++) {
      expect(indices[k] as number).toBeGreaterThan(indices[k - 1] as number);
    }
  });
});

describe("fullEquityCurve", () => {
  const input = {
    candles: sineCandles(12_345),
    strategy: "sma-cross",
    params: { fast: 5, slow: 20 },
    broker: { fractional: true },
  };

  it("keeps every bar of the curve the result downsamples", () => {
    const result = runBacktestSync(input);
    const full = fullEquityCurve(input);

    expect(full.equity.length).toBe(input.candles.length);
    expect(full.time).toBe(input.candles.time);
    expect(result.equity.equity.length).toBeLessThanOrEqual(MAX_EQUITY_POINTS);
    // Every downsampled point is a bar of the full curve.
    for (const [k, time] of result.equity.time.entries()) {
      const bar = input.candles.time.indexOf(Date.parse(time));
      expect(full.equity[bar]).toBe(result.equity.equity[k]);
      expect(full.drawdownPct[bar]).toBe(result.equity.drawdownPct[k]);
    }
    expect(full.equity.at(-1)).toBe(result.stats.equityFinal);
  });

  it("reaches the maximum drawdown of the statistics", () => {
    const result = runBacktestSync(input);
    const full = fullEquityCurve(input);
    expect(Math.min(...full.drawdownPct)).toBe(result.stats.maxDrawdownPct);
  });
});
