import type { Candles } from "../../data/candles";
import type { Indicators } from "../indicators/index";
import { requireBars, requireLess, validateParams } from "../params";
import type { ParamSpec, Strategy, StrategyInstance } from "../strategy";

export interface RsiReversionParams {
  /** RSI period, in bars. */
  period: number;
  /** RSI level below which the market counts as oversold, from 0 to 100. */
  lower: number;
  /** RSI level above which the market counts as overbought, from 0 to 100; above `lower`. */
  upper: number;
}

const NAME = "rsi-reversion";

const PARAMS: readonly ParamSpec[] = [
  { name: "period", kind: "integer", default: 14, min: 2, description: "RSI period, in bars" },
  { name: "lower", kind: "number", default: 30, min: 0, max: 100, description: "Oversold level: go long below it" },
  { name: "upper", kind: "number", default: 70, min: 0, max: 100, description: "Overbought level: go short above it" },
];

/**
 * RSI mean reversion. When Wilder's RSI is below `lower` and the strategy is not long, it closes
 * any short and goes long. When the RSI is above `upper` and it is not short, it closes any long
 * and goes short. Under the broker's "long-only" direction the shorts are dropped, so a long is
 * kept from oversold to overbought.
 */
export const rsiReversion: Strategy<RsiReversionParams> = {
  name: NAME,
  description: "Go long when the RSI is below the lower level, short when it is above the upper level",
  params: PARAMS,

  parseParams(raw: Record<string, unknown>, bars?: number): RsiReversionParams {
    const values = validateParams(NAME, PARAMS, raw);
    requireLess(NAME, values, "lower", "upper");
    const params = {
      period: values["period"] as number,
      lower: values["lower"] as number,
      upper: values["upper"] as number,
    };
    requireBars(NAME, "period", params.period, params.period + 1, bars);
    return params;
  },

  init(_candles: Candles, params: RsiReversionParams, indicators: Indicators): StrategyInstance {
    const rsi = indicators.rsi(params.period);
    const { lower, upper } = params;

    return {
      indicators: { rsi },
      next(context) {
        const value = rsi[context.bar] as number;
        if (value < lower && context.position <= 0) {
          context.close();
          context.buy();
        } else if (value > upper && context.position >= 0) {
          context.close();
          context.sell();
        }
      },
    };
  },
};
