import type { Candles } from "../../data/candles";
import type { Indicators } from "../indicators/index";
// Imported from its module, not the index: a re-exported binding is a getter call on every bar.
import { crossDirection } from "../indicators/series";
import { requireBars, requireLess, validateParams } from "../params";
import type { ParamSpec, Strategy, StrategyInstance } from "../strategy";

export interface MovingAverageCrossParams {
  /** Period of the fast moving average, in bars. */
  fast: number;
  /** Period of the slow moving average, in bars; greater than `fast`. */
  slow: number;
}

export interface MovingAverageCrossOptions {
  name: string;
  /** The indicator behind both averages. */
  average: "sma" | "ema";
}

/**
 * Builds an always-in-the-market crossover of two moving averages, as in backtesting.py's
 * `SmaCross` example. When the fast average crosses above the slow one, the strategy closes any
 * position and goes long with the default size. When it crosses below, it closes and goes short.
 */
export function createMovingAverageCross(options: MovingAverageCrossOptions): Strategy<MovingAverageCrossParams> {
  const { name, average } = options;
  const label = average.toUpperCase();
  const params: readonly ParamSpec[] = [
    { name: "fast", kind: "integer", default: 10, min: 1, description: `Fast ${label} period, in bars` },
    {
      name: "slow",
      kind: "integer",
      default: 20,
      min: 2,
      description: `Slow ${label} period, in bars, greater than fast`,
    },
  ];

  return {
    name,
    description: `Go long when the fast ${label} crosses above the slow ${label}, short when it crosses below`,
    params,

    parseParams(raw: Record<string, unknown>, bars?: number): MovingAverageCrossParams {
      const values = validateParams(name, params, raw);
      requireLess(name, values, "fast", "slow");
      const parsed = { fast: values["fast"] as number, slow: values["slow"] as number };
      requireBars(name, "slow", parsed.slow, parsed.slow, bars);
      return parsed;
    },

    init(_candles: Candles, parsed: MovingAverageCrossParams, indicators: Indicators): StrategyInstance {
      const fast = indicators[average](parsed.fast);
      const slow = indicators[average](parsed.slow);

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
}
