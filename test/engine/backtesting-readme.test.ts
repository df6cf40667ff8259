import path from "node:path";

import { beforeAll, describe, expect, it } from "vitest";

import type { Candles } from "../../src/data/candles";
import { loadCandleCsv } from "../../src/data/csv";
import { type BacktestOutput, runBacktestSync } from "../../src/engine";

/**
 * The example table of backtesting.py's README (SmaCross 10/20 on GOOG daily, cash 10,000,
 * `commission=.002`). In the versions of around 2020 that produced the table, `commission` marked
 * up the entry price once, which is today's `spread`, and trades still open at the end stayed
 * open and out of the trade count.
 */
describe("backtesting.py README example", () => {
  let candles: Candles;
  let result: BacktestOutput;

  beforeAll(async () => {
    candles = await loadCandleCsv(path.join(__dirname, "../../data/GOOG-daily-2004-2013.csv"));
    result = runBacktestSync({
      candles,
      strategy: "sma-cross",
      params: { fast: 10, slow: 20 },
      broker: { cash: 10_000, spread: 0.002, closeAtEnd: false },
    });
  });

  it("ends with equity 68935.12", () => {
    expect(result.stats.equityFinal?.toFixed(2)).toBe("68935.12");
  });

  it("counts 93 closed trades", () => {
    expect(result.stats.trades).toBe(93);
    expect(result.trades).toHaveLength(93);
  });

  it("leaves the last trade open", () => {
    expect(result.openTrades).toHaveLength(1);
    const trade = result.openTrades[0];
    expect(trade?.size).toBeGreaterThan(0);
    // The long entry paid the spread: 0.2% above the open of its fill bar.
    const open = candles.open[trade?.entryBar ?? 0] as number;
    expect(trade?.entryPrice).toBeCloseTo(open * 1.002, 9);
  });
});
