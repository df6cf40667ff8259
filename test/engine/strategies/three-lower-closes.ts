import type { Candles } from "../../../src/data/candles";
import type { Strategy, StrategyInstance } from "../../../src/engine";

/**
 * backtrader quickstart's strategy: buy when flat after two lower closes in a row
 * (close[t] < close[t-1] < close[t-2]) and sell `holdBars` bars after the buy filled. It reads two
 * bars back, so it starts at bar 2. Sizes come from the broker's `sizing` (the stake).
 */
export const threeLowerCloses: Strategy<{ holdBars: number }> = {
  name: "three-lower-closes",
  description: "Test strategy: buy after two lower closes, sell a fixed number of bars after the fill",
  params: [{ name: "holdBars", kind: "integer", default: 5, min: 1, description: "Bars to hold after the fill" }],

  parseParams(raw) {
    const holdBars = raw["holdBars"] ?? 5;
    if (typeof holdBars !== "number") throw new TypeError("holdBars must be a number");
    return { holdBars };
  },

  init(candles: Candles, params): StrategyInstance {
    const close = candles.close;
    return {
      indicators: {},
      startBar: 2,
      next(context) {
        const bar = context.bar;
        if (context.position === 0) {
          const falling = (close[bar] as number) < (close[bar - 1] as number);
          if (falling && (close[bar - 1] as number) < (close[bar - 2] as number)) context.buy();
        } else if (bar >= context.entryBar + params.holdBars) {
          context.sell();
        }
      },
    };
  },
};
