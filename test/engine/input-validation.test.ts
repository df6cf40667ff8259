import { describe, expect, it } from "vitest";

import {
  EngineInputError,
  getStrategy,
  listStrategies,
  prepareBacktest,
  resolveBrokerOptions,
  validateBacktestInput,
} from "../../src/engine";
import { sineCandles } from "./synthetic-candles";

function inputError(action: () => unknown): EngineInputError {
  try {
    action();
  } catch (error) {
    if (error instanceof EngineInputError) return error;
    throw error;
  }
  throw new Error("expected an EngineInputError, but nothing was thrown");
}

const valid = { strategy: "sma-cross", params: { fast: 10, slow: 30 }, broker: {} };

describe("strategy registry", () => {
  it("lists sma-cross with its parameters", () => {
    const names = listStrategies().map((strategy) => strategy.name);
    expect(names).toContain("sma-cross");
    expect(getStrategy("sma-cross").params.map((param) => param.name)).toEqual(["fast", "slow"]);
  });

  it("rejects an unknown strategy name", () => {
    const error = inputError(() => getStrategy("moon-phase"));
    expect(error.field).toBe("strategy");
    expect(error.message).toContain('"moon-phase"');
    expect(error.message).toContain("sma-cross");
  });
});

describe("sma-cross parameters", () => {
  it.each([
    [{ fast: 30, slow: 10 }, "params.fast", /less than slow \(10\)/],
    [{ fast: 10, slow: 10 }, "params.fast", /less than slow/],
    [{ fast: 2.5, slow: 10 }, "params.fast", /2.5 .*integer/],
    [{ fast: "10", slow: 30 }, "params.fast", /"10" .*finite number/],
    [{ fast: 0, slow: 30 }, "params.fast", /at least 1/],
    [{ fast: 10, slow: 30, period: 3 }, "params.period", /Unknown parameter "period"/],
  ])("rejects %j", (params, field, message) => {
    const error = inputError(() => validateBacktestInput({ ...valid, params }));
    expect(error.field).toBe(field);
    expect(error.message).toMatch(message);
  });

  it("rejects a slow period as long as the data", () => {
    const error = inputError(() =>
      prepareBacktest({ ...valid, params: { fast: 10, slow: 100 }, candles: sineCandles(100) }),
    );
    expect(error.field).toBe("params.slow");
    expect(error.message).toContain("100 bars");
  });

  it("fills defaults for missing parameters", () => {
    expect(getStrategy("sma-cross").parseParams({})).toEqual({ fast: 10, slow: 20 });
  });
});

describe("broker options", () => {
  it.each([
    [{ cash: -5 }, "broker.cash"],
    [{ cash: Number.NaN }, "broker.cash"],
    [{ commission: 2 }, "broker.commission"],
    [{ commission: -0.01 }, "broker.commission"],
    [{ fractional: "yes" as unknown as boolean }, "broker.fractional"],
  ])("rejects %j", (broker, field) => {
    expect(inputError(() => resolveBrokerOptions(broker)).field).toBe(field);
  });

  it("rejects candles too short to backtest", () => {
    expect(inputError(() => prepareBacktest({ ...valid, candles: sineCandles(1) })).field).toBe("candles");
  });
});

describe("params shape", () => {
  it("rejects params that are not an object", () => {
    const error = inputError(() =>
      validateBacktestInput({ ...valid, params: null as unknown as Record<string, unknown> }),
    );
    expect(error.field).toBe("params");
    expect(error.message).toContain("expected an object");
  });
});
