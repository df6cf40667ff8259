import { describe, expect, it } from "vitest";

import { Broker, pythonFloorDivide } from "../../src/engine/broker";
import { resolveBrokerOptions } from "../../src/engine/broker-options";
import { scripted, simulate } from "./scripted-strategy";
import { dailyCandles } from "./synthetic-candles";

const BARS: ReadonlyArray<readonly [number, number, number, number]> = [
  [30, 31, 29, 30],
  [30, 33, 29, 32],
  [32, 41, 31, 40],
  [40, 41, 35, 36],
  [36, 38, 34, 37],
  [37, 39, 36, 38],
];

describe("broker fills", () => {
  it("sizes all-equity orders in whole units at the next open", () => {
    const output = simulate(dailyCandles(BARS), scripted({ 1: (context) => context.buy() }), { cash: 1000 });

    // Filled at bar 2's open of 32: floor(1000 × (1 - 2^-52) / 32) = 31 units.
    expect(output.trades.length).toBe(1);
    expect(output.trades.at(0)).toMatchObject({ size: 31, entryBar: 2, entryPrice: 32, exitBar: 5, exitPrice: 37 });
    // closeAtEnd fills at the last open (37) and equity[-1] becomes the cash.
    expect(output.equity[5]).toBe(1000 + 31 * (37 - 32));
    // Bar 2 is marked to its close of 40.
    expect(output.equity[2]).toBe(1000 + 31 * (40 - 32));
  });

  it("sizes fractional units when asked", () => {
    const output = simulate(dailyCandles(BARS), scripted({ 1: (context) => context.buy() }), {
      cash: 1000,
      fractional: true,
    });
    expect(output.trades.at(0).size).toBeCloseTo(1000 / 32, 9);
  });

  it("charges commission on entry and on exit", () => {
    const output = simulate(dailyCandles(BARS), scripted({ 1: (context) => context.buy() }), {
      cash: 1000,
      commission: 0.01,
    });

    // Units = floor(1000 × (1 - 2^-52) / (32 + 0.32)) = 30.
    const trade = output.trades.at(0);
    expect(trade.size).toBe(30);
    const fees = 30 * 32 * 0.01 + 30 * 37 * 0.01;
    expect(trade.fees).toBeCloseTo(fees, 12);
    expect(output.equity[5]).toBeCloseTo(1000 + 30 * (37 - 32) - fees, 9);
  });

  it("closes first, then sizes the reversal from the freed cash", () => {
    const output = simulate(
      dailyCandles(BARS),
      scripted({
        1: (context) => context.buy(),
        2: (context) => {
          context.close();
          context.sell();
        },
      }),
      { cash: 1000, closeAtEnd: false },
    );

    // Bar 3 opens at 40: the long of 31 closes with 31 × 8 profit, then 1248 / 40 = 31.2 → 31 short.
    expect(output.trades.length).toBe(1);
    expect(output.trades.at(0)).toMatchObject({ size: 31, exitBar: 3, exitPrice: 40 });
    expect(output.openTrades).toEqual([{ size: -31, entryPrice: 40, entryBar: 3 }]);
    // The short is still open: equity at the end is marked to the last close of 38.
    expect(output.equity[5]).toBe(1000 + 31 * 8 - 31 * (38 - 40));
  });

  it("leaves the warm-up bars at the starting cash", () => {
    const strategy = scripted({});
    const warm = { ...strategy, indicators: { sma: Float64Array.from([NaN, NaN, NaN, 1, 1, 1]) } };
    const output = simulate(dailyCandles(BARS), warm, { cash: 500 });
    expect(Array.from(output.equity)).toEqual([500, 500, 500, 500, 500, 500]);
    expect(output.warmup).toBe(3);
  });

  it("stops at the bar where equity is gone", () => {
    // A short of 31 units from 40 loses everything when the price triples.
    const candles = dailyCandles([...BARS.slice(0, 4), [40, 130, 40, 120], [120, 121, 119, 120]]);
    const output = simulate(candles, scripted({ 2: (context) => context.sell() }), { cash: 1000 });

    expect(Array.from(output.equity.subarray(4))).toEqual([0, 0]);
    expect(output.trades.at(0)).toMatchObject({ size: -24, exitBar: 4, exitPrice: 120 });
  });
});

describe("broker margin", () => {
  it("values the margin at the current close", () => {
    const broker = new Broker(resolveBrokerOptions({ cash: 1000 }));
    broker.placeOrder(10, false);
    broker.processOrders(1, 30, 32);

    // 10 units bought at 30 are worth 10 × 32 at bar 1's close; equity is 1000 + 10 × 2.
    expect(broker.equityAt(32)).toBe(1020);
    expect(broker.marginAvailable(32)).toBe(1020 - 320);
    expect(broker.position).toBe(10);
    expect(broker.entryBar).toBe(1);
    expect(broker.entryPrice).toBe(30);
  });

  it("cancels an order the margin cannot cover", () => {
    const broker = new Broker(resolveBrokerOptions({ cash: 100 }));
    broker.placeOrder(4, false);
    broker.processOrders(1, 30, 30);

    expect(broker.trades).toHaveLength(0);
    expect(broker.cash).toBe(100);
  });

  it("rejects whole-unit orders with a fraction of a unit", () => {
    const output = () => simulate(dailyCandles(BARS), scripted({ 1: (context) => context.buy(1.5) }), { cash: 1000 });
    expect(output).toThrow(/Invalid order size 1.5 at bar 1/);
  });
});

describe("pythonFloorDivide", () => {
  it("floors the exact quotient like Python", () => {
    // 1 / 0.1 rounds to 10, but 0.1 is slightly above one tenth, so Python's 1 // 0.1 is 9.
    expect(pythonFloorDivide(1, 0.1)).toBe(9);
    expect(pythonFloorDivide(10, 2)).toBe(5);
    expect(pythonFloorDivide(9999.999, 1000)).toBe(9);
    expect(pythonFloorDivide(0.5, 1000)).toBe(0);
  });
});
