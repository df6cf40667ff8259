import { describe, expect, it } from "vitest";

import { EngineInputError, resolveBrokerOptions } from "../../src/engine";
import type { StrategyContext } from "../../src/engine/strategy";
import { scripted, simulate } from "./scripted-strategy";
import { dailyCandles } from "./synthetic-candles";

/** Six daily bars of [open, high, low, close]. */
const CANDLES = dailyCandles([
  [30, 31, 29, 30],
  [30, 33, 29, 32],
  [32, 41, 31, 40],
  [40, 41, 35, 36],
  [36, 38, 34, 37],
  [37, 39, 36, 38],
]);

const buyAtBar1 = scripted({ 1: (context) => context.buy() });

describe("fill option", () => {
  it("fills at the close of the bar with fill close", () => {
    const output = simulate(CANDLES, buyAtBar1, { cash: 1000, fill: "close" });

    // floor(1000 × (1 - 2^-52) / 32) = 31 units at bar 1's close, closed at the last close of 38.
    expect(output.trades.at(0)).toMatchObject({ size: 31, entryBar: 1, entryPrice: 32, exitBar: 5, exitPrice: 38 });
    expect(output.equity[1]).toBe(1000);
    expect(output.equity[5]).toBe(1000 + 31 * 6);
  });

  it("fills at the next open by default", () => {
    const output = simulate(CANDLES, buyAtBar1, { cash: 1000 });
    expect(output.trades.at(0)).toMatchObject({ entryBar: 2, entryPrice: 32, exitBar: 5, exitPrice: 37 });
  });
});

describe("commission option", () => {
  const buyTenUnits = scripted({ 1: (context) => context.buy(10) });

  it("charges a fixed amount plus a rate per fill", () => {
    const output = simulate(CANDLES, buyTenUnits, { cash: 1000, commission: { fixed: 1, rate: 0.001 } });

    const fees = 1 + 10 * 32 * 0.001 + (1 + 10 * 37 * 0.001);
    expect(output.trades.at(0).fees).toBeCloseTo(fees, 12);
    expect(output.equity[5]).toBeCloseTo(1000 + 10 * (37 - 32) - fees, 9);
  });

  it("charges an amount per unit and fill", () => {
    const output = simulate(CANDLES, buyTenUnits, { cash: 1000, commission: { perUnit: 2 } });

    expect(output.trades.at(0).fees).toBe(40);
    expect(output.equity[5]).toBe(1000 + 50 - 40);
  });

  it("includes the per-unit fee when sizing from equity", () => {
    const output = simulate(CANDLES, buyAtBar1, { cash: 1000, commission: { perUnit: 2 } });
    // floor(1000 / (32 + 2)) = 29 units.
    expect(output.trades.at(0).size).toBe(29);
  });
});

describe("spread option", () => {
  it("marks up a long entry and fills the exit at the raw price", () => {
    const output = simulate(CANDLES, buyAtBar1, { cash: 1000, spread: 0.01 });

    // Entry at 32 × 1.01 = 32.32, so floor(1000 / 32.32) = 30 units; exit at the open of 37.
    const trade = output.trades.at(0);
    expect(trade.entryPrice).toBeCloseTo(32.32, 12);
    expect(trade.size).toBe(30);
    expect(trade.exitPrice).toBe(37);
    expect(trade.fees).toBe(0);
  });

  it("marks down a short entry", () => {
    const output = simulate(CANDLES, scripted({ 1: (context) => context.sell(10) }), { cash: 1000, spread: 0.01 });
    expect(output.trades.at(0).entryPrice).toBeCloseTo(32 * 0.99, 12);
  });
});

describe("sizing option", () => {
  it("buys a fixed number of units", () => {
    const output = simulate(CANDLES, buyAtBar1, { cash: 1000, sizing: { type: "fixed", units: 7 } });
    expect(output.trades.at(0).size).toBe(7);
  });

  it("buys a fraction of the available margin", () => {
    const output = simulate(CANDLES, buyAtBar1, { cash: 1000, sizing: { type: "equity", fraction: 0.5 } });
    // floor(500 / 32) = 15 units.
    expect(output.trades.at(0).size).toBe(15);
  });

  it("lets explicit sizes override the default", () => {
    const sizes: Record<number, (context: StrategyContext) => void> = {
      1: (context) => context.buy({ units: 0.5 }),
      2: (context) => context.buy({ fraction: 0.25 }),
      3: (context) => context.buy(0.1),
    };
    const output = simulate(CANDLES, scripted(sizes), { cash: 1000, fractional: true, closeAtEnd: false });

    // A quarter of the margin left at bar 3 (valued at its close of 36), bought at its open of 40.
    const second = ((1000 + 0.5 * (36 - 32) - 0.5 * 36) * 0.25) / 40;
    // A tenth of the margin left at bar 4 (close 37), bought at its open of 36.
    const equityAtBar4 = 1000 + 0.5 * (37 - 32) + second * (37 - 40);
    const third = ((equityAtBar4 - (0.5 + second) * 37) * 0.1) / 36;
    const opened = output.openTrades.map((trade) => trade.size);
    expect(opened[0]).toBe(0.5);
    expect(opened[1]).toBeCloseTo(second, 12);
    expect(opened[2]).toBeCloseTo(third, 12);
  });
});

describe("direction option", () => {
  const reverseAtBar2 = scripted({
    1: (context) => context.buy(),
    2: (context) => {
      context.close();
      context.sell();
    },
  });

  it("drops the short side of a reversal when long-only", () => {
    const output = simulate(CANDLES, reverseAtBar2, { cash: 1000, direction: "long-only", closeAtEnd: false });

    expect(output.trades.length).toBe(1);
    expect(output.openTrades).toEqual([]);
  });

  it("reverses when long-short", () => {
    const output = simulate(CANDLES, reverseAtBar2, { cash: 1000, closeAtEnd: false });
    expect(output.openTrades).toHaveLength(1);
    expect(output.openTrades[0]?.size).toBeLessThan(0);
  });

  it("sells the whole long position with a default sell when long-only", () => {
    const output = simulate(CANDLES, scripted({ 1: (context) => context.buy(), 3: (context) => context.sell() }), {
      cash: 1000,
      direction: "long-only",
      closeAtEnd: false,
    });
    expect(output.trades.at(0)).toMatchObject({ size: 31, exitBar: 4 });
    expect(output.openTrades).toEqual([]);
  });

  it("caps a long-only sell at the units held", () => {
    const output = simulate(CANDLES, scripted({ 1: (context) => context.buy(10), 3: (context) => context.sell(25) }), {
      cash: 1000,
      direction: "long-only",
      closeAtEnd: false,
    });
    expect(output.trades.at(0).size).toBe(10);
    expect(output.openTrades).toEqual([]);
  });
});

describe("closeAtEnd option", () => {
  it("never fills an order still pending after the last bar when false", () => {
    const output = simulate(CANDLES, scripted({ 5: (context) => context.buy() }), { cash: 1000, closeAtEnd: false });

    expect(output.trades.length).toBe(0);
    expect(output.openTrades).toEqual([]);
    expect(output.equity[5]).toBe(1000);
  });

  it("closes open trades at the last open when true", () => {
    const output = simulate(CANDLES, buyAtBar1, { cash: 1000 });
    expect(output.trades.at(0)).toMatchObject({ exitBar: 5, exitPrice: 37 });
    expect(output.openTrades).toEqual([]);
  });
});

describe("singlePendingOrder option", () => {
  it("rejects a second order while one is pending", () => {
    const accepted: boolean[] = [];
    const strategy = scripted({
      1: (context) => {
        accepted.push(context.buy(5), context.buy(5), context.close());
      },
    });
    const output = simulate(CANDLES, strategy, { cash: 1000, singlePendingOrder: true, closeAtEnd: false });

    expect(accepted).toEqual([true, false, false]);
    expect(output.openTrades).toEqual([{ size: 5, entryPrice: 32, entryBar: 2 }]);
  });

  it("accepts every order by default", () => {
    const output = simulate(
      CANDLES,
      scripted({
        1: (context) => {
          context.buy(5);
          context.buy(5);
        },
      }),
      { cash: 1000, closeAtEnd: false },
    );
    expect(output.openTrades).toHaveLength(2);
  });
});

describe("strategy context", () => {
  it("reports the position, entry and pending orders", () => {
    const seen: Array<Pick<StrategyContext, "position" | "entryBar" | "entryPrice" | "pendingOrders" | "equity">> = [];
    const record = (context: StrategyContext): void => {
      const { position, entryBar, entryPrice, pendingOrders, equity } = context;
      seen.push({ position, entryBar, entryPrice, pendingOrders, equity });
    };
    const strategy = scripted({
      1: (context) => {
        context.buy(10);
        record(context);
      },
      2: record,
    });
    simulate(CANDLES, strategy, { cash: 1000, closeAtEnd: false });

    expect(seen).toEqual([
      { position: 0, entryBar: -1, entryPrice: NaN, pendingOrders: 1, equity: 1000 },
      { position: 10, entryBar: 2, entryPrice: 32, pendingOrders: 0, equity: 1000 + 10 * (40 - 32) },
    ]);
  });
});

describe("broker option validation", () => {
  function fieldOf(input: Parameters<typeof resolveBrokerOptions>[0]): string {
    try {
      resolveBrokerOptions(input);
    } catch (error) {
      if (error instanceof EngineInputError) return error.field;
      throw error;
    }
    throw new Error("expected an EngineInputError, but nothing was thrown");
  }

  it("fills every default", () => {
    expect(resolveBrokerOptions({ cash: undefined, commission: undefined })).toEqual({
      cash: 10_000,
      commission: { fixed: 0, rate: 0, perUnit: 0 },
      spread: 0,
      fill: "next-open",
      sizing: { type: "equity", fraction: 1 },
      fractional: false,
      direction: "long-short",
      closeAtEnd: true,
      singlePendingOrder: false,
    });
  });

  it("normalises every commission form", () => {
    expect(resolveBrokerOptions({ commission: 0.002 }).commission).toEqual({ fixed: 0, rate: 0.002, perUnit: 0 });
    expect(resolveBrokerOptions({ commission: { fixed: 1 } }).commission).toEqual({ fixed: 1, rate: 0, perUnit: 0 });
    expect(resolveBrokerOptions({ commission: { perUnit: 2 } }).commission).toEqual({ fixed: 0, rate: 0, perUnit: 2 });
  });

  it.each([
    [{ cash: 0 }, "broker.cash"],
    [{ commission: 0.5 }, "broker.commission"],
    [{ commission: { fixed: -1 } }, "broker.commission.fixed"],
    [{ commission: { fixed: 1, rate: 2 } }, "broker.commission.rate"],
    [{ commission: { perUnit: Number.NaN } }, "broker.commission.perUnit"],
    [{ commission: { perUnit: 1, rate: 0.1 } as never }, "broker.commission"],
    [{ spread: 0.2 }, "broker.spread"],
    [{ fill: "open" as never }, "broker.fill"],
    [{ direction: "short-only" as never }, "broker.direction"],
    [{ sizing: { type: "equity", fraction: 0 } as const }, "broker.sizing.fraction"],
    [{ sizing: { type: "equity", fraction: 1.5 } as const }, "broker.sizing.fraction"],
    [{ sizing: { type: "fixed", units: 2.5 } as const }, "broker.sizing.units"],
    [{ sizing: { type: "all" } as never }, "broker.sizing"],
    [{ singlePendingOrder: "yes" as never }, "broker.singlePendingOrder"],
  ])("rejects %j", (input, field) => {
    expect(fieldOf(input)).toBe(field);
  });

  it("accepts fractional fixed units when fractional", () => {
    const options = resolveBrokerOptions({ fractional: true, sizing: { type: "fixed", units: 0.25 } });
    expect(options.sizing).toEqual({ type: "fixed", units: 0.25 });
  });
});
