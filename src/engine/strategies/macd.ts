import type { Candles } from "../../data/candles";
import type { Indicators } from "../indicators/index";
// Imported from its module, not the index: a re-exported binding is a getter call on every bar.
import { crossDirection } from "../indicators/series";
import { requireBars, requireLess, validateParams } from "../params";
import type { ParamSpec, Strategy, StrategyInstance } from "../strategy";

export interface MacdParams {
  /** Period of the fast EMA, in bars. */
  fast: number;
  /** Period of the slow EMA, in bars; greater than `fast`. */
  slow: number;
  /** Period of the signal line's EMA of the MACD line, in bars. */
  signal: number;
}

const NAME = "macd";

const PARAMS: readonly ParamSpec[] = [
  { name: "fast", kind: "integer", default: 12, min: 1, description: "Fast EMA period, in bars" },
  { name: "slow", kind: "integer", default: 26, min: 2, description: "Slow EMA period, in bars, greater than fast" },
  { name: "signal", kind: "integer", default: 9, min: 1, description: "Signal line EMA period, in bars" },
];

/**
 * MACD signal-line crossover. When the MACD line crosses above its signal line, it closes any
 * position and goes long; when it crosses below, it closes and goes short.
 */
export const macdCross: Strategy<MacdParams> = {
  name: NAME,
  description: "Go long when the MACD line crosses above its signal line, short when it crosses below",
  params: PARAMS,

  parseParams(raw: Record<string, unknown>, bars?: number): MacdParams {
    const values = validateParams(NAME, PARAMS, raw);
    requireLess(NAME, values, "fast", "slow");
    const params = {
      fast: values["fast"] as number,
      slow: values["slow"] as number,
      signal: values["signal"] as number,
    };
    // The signal line's first value is at bar slow + signal - 2.
    requireBars(NAME, "slow", params.slow, params.slow + params.signal - 1, bars);
    return params;
  },

  init(_candles: Candles, params: MacdParams, indicators: Indicators): StrategyInstance {
    const { macd, signal } = indicators.macd(params.fast, params.slow, params.signal);

    return {
      indicators: { macd, signal },
      next(context) {
        const direction = crossDirection(macd, signal, context.bar);
        if (direction > 0) {
          context.close();
          context.buy();
        } else if (direction < 0) {
          context.close();
          context.sell();
        }
      },
    };
  },
};
