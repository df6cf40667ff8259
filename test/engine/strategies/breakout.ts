/**
 * The example strategy of docs/strategies.md, kept here so that the example compiles and runs.
 * As a plug-in it imports types only, so its compiled module needs nothing from Backplane.
 */
import type { Candles } from "../../../src/data/candles";
import type { Indicators, ParamSpec, Strategy, StrategyInstance } from "../../../src/engine";

interface BreakoutParams {
  lookback: number;
  exitPeriod: number;
  stopPct: number;
}

const PARAMS: readonly ParamSpec[] = [
  { name: "lookback", kind: "integer", default: 20, min: 2, description: "Bars of the breakout channel" },
  { name: "exitPeriod", kind: "integer", default: 10, min: 2, description: "SMA period of the exit, in bars" },
  {
    name: "stopPct",
    kind: "number",
    default: 5,
    min: 0.1,
    max: 50,
    description: "Stop-loss below the entry, in percent",
  },
];

/** Highest high of the `lookback` bars before each bar: NaN until there are that many. */
function previousHighest(high: Float64Array, lookback: number): Float64Array {
  const out = new Float64Array(high.length).fill(NaN);
  for (let i = lookback; i < high.length; i++) {
    let highest = -Infinity;
    for (let k = i - lookback; k < i; k++) highest = Math.max(highest, high[k] as number);
    out[i] = highest;
  }
  return out;
}

export const breakout: Strategy<BreakoutParams> = {
  name: "breakout",
  description: "Buy a close above the previous highs; exit below the SMA or at the stop-loss",
  params: PARAMS,

  // The registry has already checked `values` against PARAMS and filled the defaults.
  parseParams(values, bars) {
    const params = {
      lookback: values["lookback"] as number,
      exitPeriod: values["exitPeriod"] as number,
      stopPct: values["stopPct"] as number,
    };
    if (bars !== undefined && Math.max(params.lookback, params.exitPeriod) >= bars) {
      const error = new Error(`the lookback and the exit period must be below the dataset's ${bars} bars`);
      throw Object.assign(error, { field: "params.lookback" });
    }
    return params;
  },

  init(candles: Candles, params, indicators: Indicators): StrategyInstance {
    const close = candles.close;
    const channel = previousHighest(candles.high, params.lookback);
    const exit = indicators.sma(params.exitPeriod);
    const stopFactor = 1 - params.stopPct / 100;

    return {
      indicators: { channel, exit },
      next(context) {
        const bar = context.bar;
        const price = close[bar] as number;
        if (context.position === 0) {
          if (price > (channel[bar] as number)) context.buy({ fraction: 0.5 });
        } else if (price < (exit[bar] as number) || price < context.entryPrice * stopFactor) {
          context.close();
        }
      },
    };
  },
};

export default breakout;
