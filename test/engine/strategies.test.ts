import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { describe, expect, it } from "vitest";

import {
  EngineInputError,
  IndicatorCache,
  StrategyLoadError,
  crossover,
  getStrategy,
  listStrategies,
  loadStrategiesAtStartup,
  loadStrategyDirectory,
  registerStrategy,
  runBacktestSync,
  validateBacktestInput,
} from "../../src/engine";
import { breakout } from "./strategies/breakout";
import { sineCandles } from "./synthetic-candles";

const BUILT_INS = ["sma-cross", "ema-cross", "rsi-reversion", "macd", "bollinger", "close-vs-sma"];

function inputError(action: () => unknown): EngineInputError {
  try {
    action();
  } catch (error) {
    if (error instanceof EngineInputError) return error;
    throw error;
  }
  throw new Error("expected an EngineInputError, but nothing was thrown");
}

/** Runs a built-in on a sine wave with enough bars for every default period. */
function runBuiltIn(name: string, params: Record<string, unknown> = {}) {
  const candles = sineCandles(3_000, 90);
  const indicators = new IndicatorCache(candles);
  const strategy = getStrategy(name);
  const instance = strategy.init(candles, strategy.parseParams(params, candles.length), indicators);
  const result = runBacktestSync({ candles, strategy: name, params, broker: { fractional: true } });
  return { candles, instance, result };
}

describe("built-in strategies", () => {
  it("are all registered with their parameters", () => {
    const registered = listStrategies().map((strategy) => strategy.name);
    expect(registered.slice(0, BUILT_INS.length)).toEqual(BUILT_INS);
    for (const name of BUILT_INS) {
      expect(getStrategy(name).params.length, name).toBeGreaterThan(0);
    }
  });

  it.each([
    ["ema-cross", { fast: 20, slow: 5 }, "params.fast", /less than slow/],
    ["rsi-reversion", { lower: 80, upper: 20 }, "params.lower", /less than upper/],
    ["rsi-reversion", { upper: 120 }, "params.upper", /at most 100/],
    ["macd", { fast: 30, slow: 26 }, "params.fast", /less than slow/],
    ["macd", { signal: 0 }, "params.signal", /at least 1/],
    ["bollinger", { k: 0 }, "params.k", /at least 0.1/],
    ["bollinger", { period: 2.5 }, "params.period", /integer/],
    ["close-vs-sma", { period: "15" }, "params.period", /finite number/],
  ])("%s rejects %j", (strategy, params, field, message) => {
    const error = inputError(() => validateBacktestInput({ strategy, params, broker: {} }));
    expect(error.field).toBe(field);
    expect(error.message).toMatch(message);
  });

  it("reject periods the dataset cannot warm up", () => {
    const error = inputError(() => validateBacktestInput({ strategy: "macd", params: {}, broker: {} }, 30));
    expect(error.field).toBe("params.slow");
    expect(error.message).toContain("30 bars");
  });

  it("ema-cross enters on the bar after an EMA cross", () => {
    const { instance, result } = runBuiltIn("ema-cross", { fast: 5, slow: 20 });
    const { fast, slow } = instance.indicators as Record<string, Float64Array>;

    expect(result.trades.length).toBeGreaterThan(10);
    for (const trade of result.trades) {
      const signalBar = trade.entryBar - 1;
      const expected = trade.size > 0 ? crossover(fast!, slow!, signalBar) : crossover(slow!, fast!, signalBar);
      expect(expected, `trade entered at bar ${trade.entryBar}`).toBe(true);
    }
  });

  it("macd enters on the bar after a signal-line cross", () => {
    const { instance, result } = runBuiltIn("macd");
    const { macd, signal } = instance.indicators as Record<string, Float64Array>;

    expect(result.trades.length).toBeGreaterThan(10);
    for (const trade of result.trades) {
      const signalBar = trade.entryBar - 1;
      const expected = trade.size > 0 ? crossover(macd!, signal!, signalBar) : crossover(signal!, macd!, signalBar);
      expect(expected, `trade entered at bar ${trade.entryBar}`).toBe(true);
    }
  });

  it("rsi-reversion buys oversold and sells overbought", () => {
    const { instance, result } = runBuiltIn("rsi-reversion", { period: 14, lower: 35, upper: 65 });
    const rsi = instance.indicators["rsi"] as Float64Array;

    expect(result.trades.length).toBeGreaterThan(5);
    for (const trade of result.trades) {
      const value = rsi[trade.entryBar - 1] as number;
      if (trade.size > 0) expect(value).toBeLessThan(35);
      else expect(value).toBeGreaterThan(65);
    }
  });

  it("bollinger enters outside the bands and exits at the middle", () => {
    const { candles, instance, result } = runBuiltIn("bollinger", { period: 20, k: 1.5 });
    const { middle, upper, lower } = instance.indicators as Record<string, Float64Array>;
    const close = candles.close;

    expect(result.trades.length).toBeGreaterThan(5);
    for (const trade of result.trades.slice(0, -1)) {
      const entrySignal = trade.entryBar - 1;
      const exitSignal = trade.exitBar - 1;
      if (trade.size > 0) {
        expect(close[entrySignal]).toBeLessThan(lower![entrySignal] as number);
        expect(close[exitSignal]).toBeGreaterThanOrEqual(middle![exitSignal] as number);
      } else {
        expect(close[entrySignal]).toBeGreaterThan(upper![entrySignal] as number);
        expect(close[exitSignal]).toBeLessThanOrEqual(middle![exitSignal] as number);
      }
    }
  });

  it("close-vs-sma holds longs while the close is above the SMA", () => {
    const { candles, instance, result } = runBuiltIn("close-vs-sma", { period: 15 });
    const average = instance.indicators["sma"] as Float64Array;
    const close = candles.close;

    expect(instance.startBar).toBe(14);
    expect(result.trades.length).toBeGreaterThan(5);
    for (const trade of result.trades.slice(0, -1)) {
      expect(trade.size).toBeGreaterThan(0);
      expect(close[trade.entryBar - 1]).toBeGreaterThan(average[trade.entryBar - 1] as number);
      expect(close[trade.exitBar - 1]).toBeLessThan(average[trade.exitBar - 1] as number);
    }
  });

  it("run long-only without shorts", () => {
    const candles = sineCandles(3_000, 90);
    for (const name of BUILT_INS) {
      const result = runBacktestSync({ candles, strategy: name, params: {}, broker: { direction: "long-only" } });
      expect(
        result.trades.every((trade) => trade.size > 0),
        name,
      ).toBe(true);
    }
  });
});

describe("documented example strategy", () => {
  registerStrategy(breakout, "test");
  const candles = sineCandles(3_000, 90);

  it("runs by name once registered", () => {
    const result = runBacktestSync({
      candles,
      strategy: "breakout",
      params: { lookback: 10 },
      broker: { fractional: true },
    });

    expect(result.trades.length).toBeGreaterThan(5);
    for (const trade of result.trades) expect(trade.size).toBeGreaterThan(0);
  });

  it("buys half of the available margin", () => {
    const result = runBacktestSync({
      candles,
      strategy: "breakout",
      params: { lookback: 10 },
      broker: { fractional: true },
    });
    const first = result.trades[0];
    // Flat before the first trade, so the margin is the starting cash.
    expect((first?.size ?? 0) * (first?.entryPrice ?? 0)).toBeCloseTo(5_000, 6);
  });

  it("reports its parameter errors as input errors", () => {
    expect(inputError(() => getStrategy("breakout").parseParams({ lookback: 1 })).field).toBe("params.lookback");
    const tooLong = inputError(() => getStrategy("breakout").parseParams({ lookback: 5_000 }, candles.length));
    expect(tooLong.field).toBe("params.lookback");
    expect(tooLong.message).toContain("3000 bars");
  });
});

describe("registerStrategy", () => {
  it("rejects a duplicate name", () => {
    expect(() => registerStrategy(getStrategy("sma-cross"), "test")).toThrow(
      /"sma-cross" from test is already registered from built-in/,
    );
  });

  it.each([
    [{ ...breakout, name: "Not Valid" }, /name "Not Valid"/],
    [{ ...breakout, name: "no-init", init: undefined }, /"init" must be a function/],
    [{ ...breakout, name: "bad-params", params: [{ name: "x", kind: "float" }] }, /params\[0\]\.kind/],
    [
      {
        ...breakout,
        name: "bad-defaults",
        parseParams: () => {
          throw new Error("nope");
        },
      },
      /rejects its own default parameters: .*nope/,
    ],
  ])("rejects an invalid shape %#", (candidate, message) => {
    expect(() => registerStrategy(candidate, "test")).toThrow(message);
  });
});

describe("registered strategy parameters", () => {
  const plugin = registerStrategy(
    {
      name: "plain-errors",
      description: "Test strategy whose parseParams throws plain errors",
      params: [
        { name: "low", kind: "integer", default: 1, min: 1, description: "Lower bound" },
        { name: "high", kind: "integer", default: 2, min: 1, description: "Upper bound" },
      ],
      parseParams(values: Record<string, number>) {
        if (values["low"]! >= values["high"]!)
          throw Object.assign(new Error("low must be below high"), { field: "params.low" });
        return values;
      },
      init: () => ({ indicators: {}, next: () => undefined }),
    },
    "test",
  );

  it("are checked against the specs before the strategy sees them", () => {
    const error = inputError(() => plugin.parseParams({ low: 1.5 }));
    expect(error.field).toBe("params.low");
    expect(error.message).toMatch(/expected an integer/);
    expect(plugin.parseParams({})).toEqual({ low: 1, high: 2 });
  });

  it("turn a plain error of the strategy into an input error", () => {
    const error = inputError(() => plugin.parseParams({ low: 3, high: 2 }));
    expect(error.field).toBe("params.low");
    expect(error.message).toBe('Invalid params for strategy "plain-errors": low must be below high');
  });
});

describe("loadStrategyDirectory", () => {
  /** Writes the files into a new temporary directory and returns its path. */
  function directoryWith(files: Record<string, string>): string {
    const directory = mkdtempSync(path.join(os.tmpdir(), "backplane-strategies-"));
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(directory, name), text);
    return directory;
  }

  /** Returns the text of a CommonJS strategy module as `tsc` would compile it. */
  function moduleText(name: string, exportLine: string): string {
    return `"use strict";
const strategy = {
  name: ${JSON.stringify(name)},
  description: "Test plug-in: buys on bar 5 and holds",
  params: [{ name: "bar", kind: "integer", default: 5, min: 1, description: "Bar to buy on" }],
  parseParams(raw) { return { bar: raw.bar ?? 5 }; },
  init(candles, params, indicators) {
    return { indicators: { average: indicators.sma(3) }, next(context) { if (context.bar === params.bar) context.buy(); } };
  },
};
${exportLine}
`;
  }

  it("registers the default and named exports of .js files", () => {
    const directory = directoryWith({
      "b-named.js": moduleText("plugin-named", "exports.strategy = strategy;"),
      "a-default.js": moduleText(
        "plugin-default",
        'Object.defineProperty(exports, "__esModule", { value: true }); exports.default = strategy;',
      ),
      "notes.txt": "not a module",
    });
    mkdirSync(path.join(directory, "nested.js"));

    expect(loadStrategyDirectory(directory)).toEqual(["plugin-default", "plugin-named"]);
    const result = runBacktestSync({
      candles: sineCandles(50),
      strategy: "plugin-named",
      params: {},
      broker: { fractional: true },
    });
    expect(result.trades[0]?.entryBar).toBe(6);
  });

  it.each([
    ["broken.js", "this is not javascript", /broken\.js not loaded: requiring it failed/],
    ["empty.js", "exports.other = 1;", /empty\.js not loaded: it exports no strategy/],
    ["invalid.js", 'exports.strategy = { name: "Bad" };', /invalid\.js not loaded: Invalid strategy .*name "Bad"/],
    [
      "duplicate.js",
      moduleText("sma-cross", "exports.strategy = strategy;"),
      /duplicate\.js not loaded: .*already registered/,
    ],
  ])("stops at %s with its path", (file, text, message) => {
    const directory = directoryWith({ [file]: text });
    let thrown: unknown;
    try {
      loadStrategyDirectory(directory);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(StrategyLoadError);
    expect((thrown as StrategyLoadError).file).toBe(path.join(directory, file));
    expect((thrown as Error).message).toMatch(message);
  });

  it("names a directory it cannot read", () => {
    const missing = path.join(os.tmpdir(), "backplane-no-such-directory");
    expect(() => loadStrategyDirectory(missing)).toThrow(
      /backplane-no-such-directory not loaded: the directory cannot be read/,
    );
  });
});

describe("loadStrategiesAtStartup", () => {
  it("does nothing without a directory", () => {
    expect(loadStrategiesAtStartup(undefined)).toEqual([]);
  });

  it("throws the load error in a thread, where there is no logger", () => {
    const directory = mkdtempSync(path.join(os.tmpdir(), "backplane-strategies-"));
    writeFileSync(path.join(directory, "broken.js"), "module.exports = {");
    expect(() => loadStrategiesAtStartup(directory)).toThrow(StrategyLoadError);
  });
});
