import type { Candles } from "../../data/candles";
import type { Indicators } from "../indicators/index";
import { requireBars, validateParams } from "../params";
import type { ParamSpec, Strategy, StrategyInstance } from "../strategy";

export interface CloseVsSmaParams {
  /** SMA period, in bars. */
  period: number;
}

const NAME = "close-vs-sma";

const PARAMS: readonly ParamSpec[] = [
  { name: "period", kind: "integer", default: 15, min: 1, description: "SMA period, in bars" },
];

/**
 * Long while the close is above its SMA, as in backtrader's quickstart: when flat it buys on a
 * close above the SMA, and when long it closes on a close below it. A close equal to the SMA
 * changes nothing. It reads no previous bar, so it starts on the SMA's first value, as backtrader
 * does.
 */
export const closeVsSma: Strategy<CloseVsSmaParams> = {
  name: NAME,
  description: "Hold a long position while the close is above its SMA",
  params: PARAMS,

  parseParams(raw: Record<string, unknown>, bars?: number): CloseVsSmaParams {
    const values = validateParams(NAME, PARAMS, raw);
    const params = { period: values["period"] as number };
    requireBars(NAME, "period", params.period, params.period, bars);
    return params;
  },

  init(candles: Candles, params: CloseVsSmaParams, indicators: Indicators): StrategyInstance {
    const sma = indicators.sma(params.period);
    const close = candles.close;

    return {
      indicators: { sma },
      startBar: params.period - 1,
      next(context) {
        const bar = context.bar;
        const price = close[bar] as number;
        if (context.position === 0) {
          if (price > (sma[bar] as number)) context.buy();
        } else if (context.position > 0 && price < (sma[bar] as number)) {
          context.close();
        }
      },
    };
  },
};
