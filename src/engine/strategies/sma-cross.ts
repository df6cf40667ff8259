import type { Candles } from "../../data/candles";
import { EngineInputError } from "../errors";
import { crossover, sma } from "../indicators";
import { type ParamSpec, type Strategy, type StrategyInstance, validateParams } from "../strategy";

export interface SmaCrossParams {
  /** Period of the fast simple moving average, in bars. */
  fast: number;
  /** Period of the slow simple moving average, in bars; greater than `fast`. */
  slow: number;
}

const PARAMS: readonly ParamSpec[] = [
  { name: "fast", kind: "integer", default: 10, min: 1, description: "Fast SMA period, in bars" },
  { name: "slow", kind: "integer", default: 20, min: 2, description: "Slow SMA period, in bars, greater than fast" },
];

/**
 * Always-in-the-market moving average crossover, as in backtesting.py's `SmaCross` example. When
 * the fast SMA crosses above the slow one, it closes any position and goes long with all equity.
 * When the fast SMA crosses below, it closes and goes short.
 */
export const smaCross: Strategy<SmaCrossParams> = {
  name: "sma-cross",
  description: "Go long when the fast SMA crosses above the slow SMA, short when it crosses below",
  params: PARAMS,

  parseParams(raw: Record<string, unknown>, bars?: number): SmaCrossParams {
    const values = validateParams("sma-cross", PARAMS, raw);
    const params = { fast: values["fast"] as number, slow: values["slow"] as number };

    if (params.fast >= params.slow) {
      throw new EngineInputError(
        "params.fast",
        `Invalid fast ${params.fast} for strategy "sma-cross": it must be less than slow (${params.slow})`,
      );
    }
    if (bars !== undefined && params.slow >= bars) {
      throw new EngineInputError(
        "params.slow",
        `Invalid slow ${params.slow} for strategy "sma-cross": the dataset has ${bars} bars, so use a period below ${bars}`,
      );
    }
    return params;
  },

  init(candles: Candles, params: SmaCrossParams): StrategyInstance {
    const fast = sma(candles.close, params.fast);
    const slow = sma(candles.close, params.slow);

    return {
      indicators: { fast, slow },
      next(context) {
        const bar = context.bar;
        if (crossover(fast, slow, bar)) {
          context.close();
          context.buy();
        } else if (crossover(slow, fast, bar)) {
          context.close();
          context.sell();
        }
      },
    };
  },
};
