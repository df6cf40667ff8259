import type { Candles } from "../../data/candles";
import type { Indicators } from "../indicators/index";
import { requireBars, validateParams } from "../params";
import type { ParamSpec, Strategy, StrategyInstance } from "../strategy";

export interface BollingerParams {
  /** Period of the middle band's SMA and of the standard deviation, in bars. */
  period: number;
  /** Width of the bands in population standard deviations. */
  k: number;
}

const NAME = "bollinger";

const PARAMS: readonly ParamSpec[] = [
  { name: "period", kind: "integer", default: 20, min: 2, description: "Band period, in bars" },
  { name: "k", kind: "number", default: 2, min: 0.1, max: 10, description: "Band width, in standard deviations" },
];

/**
 * Bollinger Band mean reversion. When flat, it goes long on a close below the lower band and
 * short on a close above the upper band. It closes a long once the close is back at or above the
 * middle band, and a short once it is at or below it.
 */
export const bollingerReversion: Strategy<BollingerParams> = {
  name: NAME,
  description: "Buy below the lower Bollinger Band, sell above the upper one, exit at the middle band",
  params: PARAMS,

  parseParams(raw: Record<string, unknown>, bars?: number): BollingerParams {
    const values = validateParams(NAME, PARAMS, raw);
    const params = { period: values["period"] as number, k: values["k"] as number };
    requireBars(NAME, "period", params.period, params.period, bars);
    return params;
  },

  init(candles: Candles, params: BollingerParams, indicators: Indicators): StrategyInstance {
    const { middle, upper, lower } = indicators.bollinger(params.period, params.k);
    const close = candles.close;

    return {
      indicators: { middle, upper, lower },
      next(context) {
        const bar = context.bar;
        const price = close[bar] as number;
        const position = context.position;
        if (position === 0) {
          if (price < (lower[bar] as number)) context.buy();
          else if (price > (upper[bar] as number)) context.sell();
        } else if (position > 0 ? price >= (middle[bar] as number) : price <= (middle[bar] as number)) {
          context.close();
        }
      },
    };
  },
};
