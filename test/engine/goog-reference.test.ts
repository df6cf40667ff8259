import path from "node:path";

import { beforeAll, describe, expect, it } from "vitest";

import { loadCandleCsv } from "../../src/data/csv";
import { type BacktestOutput, runBacktestSync } from "../../src/engine";
import type { BacktestResult } from "../../src/hubs/backtest-events";

/**
 * backtesting.py 0.6.6 on GOOG daily 2004-08-19..2013-03-01 with its SmaCross(10, 30) example,
 * cash 10,000, commission 0, finalize_trades=True. Every figure is the engine's own output
 * compared with the published one at a relative tolerance of 1e-8.
 */
const REFERENCE: Record<string, number> = {
  trades: 66,
  equityFinal: 51422.98999999996,
  equityPeak: 75787.44,
  returnPct: 414.2298999999996,
  buyHoldReturnPct: 522.0601851851852,
  exposurePct: 96.74115456238361,
  maxDrawdownPct: -47.98012705007589,
  winRatePct: 46.96969696969697,
  sharpe: 0.5806232244485349,
  sortino: 1.0853434352488662,
  calmar: 0.44166409202994605,
  cagrPct: 21.160245705962623,
  returnAnnPct: 21.191099249053224,
  volatilityAnnPct: 36.49716090702389,
  avgDrawdownPct: -5.925851581948801,
  maxDrawdownDurationDays: 584,
  avgDrawdownDurationDays: 41,
  bestTradePct: 53.59595229490424,
  worstTradePct: -18.39887353835481,
  avgTradePct: 2.531715975158555,
  maxTradeDurationDays: 183,
  avgTradeDurationDays: 46,
  profitFactor: 2.167945974262033,
  expectancyPct: 3.2748078066748834,
  sqn: 1.0766187356697705,
  kelly: 0.1518705127029717,
  alphaPct: 394.37391142027462,
  beta: 0.03803390709192,
};

const TOLERANCE = 1e-8;

describe("sma-cross 10/30 on GOOG daily", () => {
  let result: BacktestOutput;

  beforeAll(async () => {
    const candles = await loadCandleCsv(path.join(__dirname, "../../data/GOOG-daily-2004-2013.csv"));
    result = runBacktestSync({ candles, strategy: "sma-cross", params: { fast: 10, slow: 30 }, broker: {} });
  });

  it.each(Object.entries(REFERENCE))("matches backtesting.py for %s", (name, expected) => {
    const actual = result.stats[name as keyof typeof result.stats];
    expect(typeof actual).toBe("number");
    const relativeError = Math.abs((actual as number) - expected) / Math.abs(expected);
    expect(relativeError, `${name}: got ${String(actual)}, expected ${expected}`).toBeLessThan(TOLERANCE);
  });

  it("reports the data range", () => {
    expect(result.stats.start).toBe("2004-08-19T00:00:00.000Z");
    expect(result.stats.end).toBe("2013-03-01T00:00:00.000Z");
    expect(result.stats.durationDays).toBe(3116);
  });

  it("lists every closed trade", () => {
    expect(result.trades).toHaveLength(66);
    const first = result.trades[0];
    // The first cross after the 30-bar warm-up is downward: a short of 55 whole units at the next open.
    expect(first).toMatchObject({ entryBar: 70, exitBar: 86, entryPrice: 180.36, exitPrice: 186.31, size: -55 });
    expect(first?.entryTime).toBe("2004-11-29T00:00:00.000Z");

    const pnlSum = result.trades.reduce((sum, trade) => sum + trade.pnl, 0);
    expect(pnlSum).toBeCloseTo(51422.99 - 10000, 6);
  });

  it("closes the last trade at the last open", () => {
    const last = result.trades.at(-1);
    expect(last?.exitBar).toBe(2147);
    expect(last?.exitPrice).toBe(797.8);
  });

  it("downsamples the equity curve", () => {
    // 2,148 bars exceed the cap, so the curve is reduced but keeps both ends.
    expect(result.equity.equity.length).toBeLessThanOrEqual(2000);
    expect(result.equity.time[0]).toBe("2004-08-19T00:00:00.000Z");
    expect(result.equity.time.at(-1)).toBe("2013-03-01T00:00:00.000Z");
    expect(result.equity.equity.at(-1)).toBe(51422.98999999996);
    expect(Math.max(...result.equity.equity)).toBe(75787.44);
    expect(Math.min(...result.equity.drawdownPct)).toBeCloseTo(-47.98012705007589, 9);
  });

  it("fits the hub's result type", () => {
    // Compile-time check: the hub sends the engine's output as a BacktestResult without casts.
    const sent: BacktestResult = result;
    expect(sent.stats.trades).toBe(66);
  });

  it("survives a JSON round trip", () => {
    const copy = JSON.parse(JSON.stringify(result)) as BacktestOutput;
    expect(copy.stats).toEqual(result.stats);
  });
});
