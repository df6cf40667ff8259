import path from "node:path";

import { beforeAll, describe, expect, it } from "vitest";

import type { Candles } from "../../src/data/candles";
import { loadCandleCsv } from "../../src/data/csv";
import { type BacktestOutput, runBacktestSync } from "../../src/engine";
import { closeCrossesSma } from "./strategies/backtrader-crossover";
import { threeLowerCloses } from "./strategies/three-lower-closes";

/**
 * backtrader's published figures, reproduced through the public strategy API with backtrader's
 * broker conventions: market orders fill at the next open, one pending order at a time, an order
 * still pending after the last bar never fills, and the final value is cash + position × last
 * close (`closeAtEnd: false`).
 */
const BACKTRADER_BROKER = { fill: "next-open", singlePendingOrder: true, closeAtEnd: false } as const;

function fixture(name: string): Promise<Candles> {
  return loadCandleCsv(path.join(__dirname, "../fixtures", name));
}

/** backtrader's `broker.getcash()`: our cash pays no purchase price, so subtract the position's value at the last close. */
function backtraderCash(result: BacktestOutput, candles: Candles): number {
  const lastClose = candles.close[candles.length - 1] as number;
  const held = result.openTrades.reduce((sum, trade) => sum + trade.size, 0);
  return (result.stats.equityFinal as number) - held * lastClose;
}

describe("backtrader quickstart on ORCL 2000", () => {
  let candles: Candles;

  beforeAll(async () => {
    candles = await fixture("ORCL-daily-2000-backtrader-adjusted.csv");
  });

  it("ends three lower closes at 100016.98", () => {
    const result = runBacktestSync({
      candles,
      strategy: threeLowerCloses,
      params: { holdBars: 5 },
      broker: { ...BACKTRADER_BROKER, cash: 100_000, sizing: { type: "fixed", units: 1 }, commission: 0.001 },
    });

    expect(result.stats.equityFinal?.toFixed(2)).toBe("100016.98");
    // Each round trip pays 0.1% of its entry and of its exit value.
    expect(result.stats.commissions).toBeGreaterThan(0);
  });

  it("ends close-vs-sma 15 at 973.90", () => {
    const result = runBacktestSync({
      candles,
      strategy: "close-vs-sma",
      params: { period: 15 },
      broker: { ...BACKTRADER_BROKER, cash: 1_000, sizing: { type: "fixed", units: 10 } },
    });

    expect(result.stats.equityFinal?.toFixed(2)).toBe("973.90");
    expect(result.trades.every((trade) => trade.size === 10)).toBe(true);
  });
});

describe("backtrader CrossOver test on 2006 daily data", () => {
  let candles: Candles;
  let result: BacktestOutput;

  beforeAll(async () => {
    candles = await fixture("backtrader-2006-day-001.csv");
    result = runBacktestSync({
      candles,
      strategy: closeCrossesSma,
      params: { period: 15 },
      broker: { ...BACKTRADER_BROKER, cash: 10_000, sizing: { type: "fixed", units: 1 } },
    });
  });

  it("ends with value 10284.10", () => {
    expect(result.stats.equityFinal?.toFixed(2)).toBe("10284.10");
  });

  it("ends with cash 6164.16", () => {
    // The last cross buys one unit that is still open, so cash excludes its value.
    expect(result.openTrades).toHaveLength(1);
    expect(backtraderCash(result, candles).toFixed(2)).toBe("6164.16");
  });
});
