import type { Candles } from "../../data/candles";
import type { Indicators } from "../indicators/index";
// Imported from its module, not the index: a re-exported binding is a getter call on every bar.
import { crossDirection } from "../indicators/series";
import { requireBars, requireLess, validateParams } from "../params";
import type { ParamSpec, Strategy, StrategyInstance } from "../strategy";

export interface EmaCrossParams {
  /** Period of the fast exponential moving average, in bars. */
  fast: number;
  /** Period of the slow exponential moving average, in bars; greater than `fast`. */
  slow: number;
}

const NAME = "ema-cross";

const PARAMS: readonly ParamSpec[] = [
  { name: "fast", kind: "integer", default: 10, min: 1, description: "Fast EMA period, in bars" },
  { name: "slow", kind: "integer", default: 20, min: 2, description: "Slow EMA period, in bars, greater than fast" },
];

/**
 * Always-in-the-market crossover of two exponential moving averages (see `ema` for the seeding).
 * When the fast EMA crosses above the slow one, it closes any position and goes long with the
 * default size. When the fast EMA crosses below, it closes and goes short.
 */
export const emaCross: Strategy<EmaCrossParams> = {
  name: NAME,
  description: "Go long when the fast EMA crosses above the slow EMA, short when it crosses below",
  params: PARAMS,

  parseParams(raw: Record<string, unknown>, bars?: number): EmaCrossParams {
    const values = validateParams(NAME, PARAMS, raw);
    requireLess(NAME, values, "fast", "slow");
    const params = { fast: values["fast"] as number, slow: values["slow"] as number };
    requireBars(NAME, "slow", params.slow, params.slow, bars);
    return params;
  },

  init(_candles: Candles, params: EmaCrossParams, indicators: Indicators): StrategyInstance {
    const fast = indicators.ema(params.fast);
    const slow = indicators.ema(params.slow);

    return {
      indicators: { fast, slow },
      next(context) {
        const direction = crossDirection(fast, slow, context.bar);
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
