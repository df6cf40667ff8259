import { describe, expect, it } from "vitest";

import { resolveBrokerOptions } from "../../src/engine";
import { type BacktestRequest, brokerOptionsOf, parseBacktestRequest } from "../../src/queues/backtest-request";
import { checkBacktestInput } from "../../src/web/backtest-input";
import { ApiError } from "../../src/web/errors";

const BASE = { dataset: "goog-daily", strategy: "sma-cross", params: { fast: 10, slow: 30 } };

function parsed(body: Record<string, unknown>): BacktestRequest {
  const result = parseBacktestRequest({ ...BASE, ...body });
  if (result instanceof ApiError) throw new Error(`expected a valid request, got ${result.message}`);
  return result;
}

function rejectedField(body: Record<string, unknown>): string | undefined {
  const result = parseBacktestRequest({ ...BASE, ...body });
  if (!(result instanceof ApiError)) throw new Error(`expected a validation error for ${JSON.stringify(body)}`);
  return result.field;
}

describe("broker options in POST /api/backtests", () => {
  it("default to the engine's defaults", () => {
    const request = parsed({});
    expect(resolveBrokerOptions(brokerOptionsOf(request))).toEqual(resolveBrokerOptions({}));
  });

  it("reach the engine as given", () => {
    const request = parsed({
      cash: 1_000,
      fill: "close",
      commission: { fixed: 1, rate: 0.001 },
      spread: 0.002,
      sizing: { type: "fixed", units: 10 },
      fractional: false,
      direction: "long-only",
      closeAtEnd: false,
      singlePendingOrder: true,
    });

    expect(resolveBrokerOptions(brokerOptionsOf(request))).toEqual({
      cash: 1_000,
      fill: "close",
      commission: { fixed: 1, rate: 0.001, perUnit: 0 },
      spread: 0.002,
      sizing: { type: "fixed", units: 10 },
      fractional: false,
      direction: "long-only",
      closeAtEnd: false,
      singlePendingOrder: true,
    });
  });

  it("accept a commission per unit", () => {
    expect(resolveBrokerOptions(brokerOptionsOf(parsed({ commission: { perUnit: 2 } }))).commission).toEqual({
      fixed: 0,
      rate: 0,
      perUnit: 2,
    });
  });

  it.each([
    [{ commission: 2 }, "commission"],
    [{ commission: { fixed: 1, perUnit: 2 } }, "commission"],
    [{ commission: "0.1%" }, "commission"],
    [{ spread: -0.001 }, "spread"],
    [{ fill: "open" }, "fill"],
    [{ sizing: { type: "equity", fraction: 0 } }, "sizing.fraction"],
    [{ sizing: { type: "fixed" } }, "sizing.units"],
    [{ sizing: { type: "all-in" } }, "sizing.type"],
    [{ direction: "short" }, "direction"],
    [{ singlePendingOrder: 1 }, "singlePendingOrder"],
  ])("reject %j", (body, field) => {
    expect(rejectedField(body)).toBe(field);
  });

  it("explain the commission forms", () => {
    const result = parseBacktestRequest({ ...BASE, commission: "0.1%" });
    expect(result).toBeInstanceOf(ApiError);
    expect((result as ApiError).message).toMatch(/\{"perUnit":2\}/);
  });

  it("name the request field when only the engine can tell", () => {
    // Only the engine checks whole units, because that check depends on the fractional option.
    let thrown: unknown;
    try {
      checkBacktestInput(parsed({ sizing: { type: "fixed", units: 2.5 } }));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ApiError);
    expect(thrown).toMatchObject({ code: "validation_failed", field: "sizing.units" });
  });
});
