import type { Candles } from "../../../src/data/candles";
import type { Indicators, Strategy, StrategyInstance } from "../../../src/engine";

/**
 * backtrader's `CrossOver(close, SMA)`: +1 when the last non-zero difference close - SMA before
 * this bar was negative and close > SMA now, -1 for the mirror case, else 0. Carrying the last
 * non-zero difference means that a bar where close equals the SMA does not hide a cross. The
 * first value is at bar `period` (one bar after the SMA's first value).
 */
export function backtraderCrossOver(close: Float64Array, average: Float64Array, period: number): Float64Array {
  const cross = new Float64Array(close.length).fill(NaN);
  let lastNonZero = (close[period - 1] as number) - (average[period - 1] as number);
  for (let i = period; i < close.length; i++) {
    const difference = (close[i] as number) - (average[i] as number);
    const up = lastNonZero < 0 && difference > 0 ? 1 : 0;
    const down = lastNonZero > 0 && difference < 0 ? 1 : 0;
    cross[i] = up - down;
    if (difference !== 0) lastNonZero = difference;
  }
  return cross;
}

/**
 * The strategy of backtrader's own unit tests: buy when flat and the close crosses above its
 * SMA, close when long and it crosses below. It starts on the crossover's first value, as
 * backtrader's `next` does once every indicator has its minimum period.
 */
export const closeCrossesSma: Strategy<{ period: number }> = {
  name: "close-crosses-sma",
  description: "Test strategy: backtrader's CrossOver of the close and its SMA",
  params: [{ name: "period", kind: "integer", default: 15, min: 2, description: "SMA period, in bars" }],

  parseParams(raw) {
    const period = raw["period"] ?? 15;
    if (typeof period !== "number") throw new TypeError("period must be a number");
    return { period };
  },

  init(candles: Candles, params, indicators: Indicators): StrategyInstance {
    const average = indicators.sma(params.period);
    const cross = backtraderCrossOver(candles.close, average, params.period);
    return {
      indicators: { average, cross },
      startBar: params.period,
      next(context) {
        const signal = cross[context.bar] as number;
        if (context.position === 0) {
          if (signal > 0) context.buy();
        } else if (signal < 0) {
          context.close();
        }
      },
    };
  },
};
