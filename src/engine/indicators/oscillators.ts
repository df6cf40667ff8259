/** Momentum oscillators computed once over a whole series, NaN during their warm-up. */
import { ema } from "./moving-averages";
import { checkPeriod, firstValidIndex } from "./series";

/**
 * Relative Strength Index with Wilder's smoothing. From the changes d = x[i] - x[i-1], the first
 * average gain and loss are the plain means of the first `period` gains and losses, and each
 * later one is (previous × (period - 1) + current) / period. RSI = 100 - 100 / (1 + gain / loss),
 * 100 when the average loss is 0 and 50 when both averages are 0 (a flat series). The first value
 * is at `period` bars after the first valid input.
 */
export function rsi(values: Float64Array, period: number): Float64Array {
  checkPeriod("RSI", period);

  const out = new Float64Array(values.length).fill(NaN);
  const first = firstValidIndex(values);
  const seedBar = first + period;
  if (seedBar >= values.length) return out;

  let gain = 0;
  let loss = 0;
  for (let i = first + 1; i <= seedBar; i++) {
    const change = (values[i] as number) - (values[i - 1] as number);
    if (change > 0) gain += change;
    else loss -= change;
  }
  gain /= period;
  loss /= period;
  out[seedBar] = rsiValue(gain, loss);

  for (let i = seedBar + 1; i < values.length; i++) {
    const change = (values[i] as number) - (values[i - 1] as number);
    gain = (gain * (period - 1) + (change > 0 ? change : 0)) / period;
    loss = (loss * (period - 1) + (change < 0 ? -change : 0)) / period;
    out[i] = rsiValue(gain, loss);
  }
  return out;
}

function rsiValue(gain: number, loss: number): number {
  if (loss === 0) return gain === 0 ? 50 : 100;
  return 100 - 100 / (1 + gain / loss);
}

/** The three lines of a MACD, each as long as the input. */
export interface MacdLines {
  /** EMA(fast) - EMA(slow), defined from bar `slow - 1` of the valid input. */
  macd: Float64Array;
  /** EMA(signal) of the MACD line. */
  signal: Float64Array;
  /** MACD line minus signal line. */
  histogram: Float64Array;
}

/**
 * Moving Average Convergence/Divergence (Gerald Appel): the difference of a fast and a slow EMA
 * of the values, its signal line (an EMA of that difference) and the histogram between them.
 * Every EMA is seeded with a simple average (see `ema`). Throws a RangeError unless fast < slow.
 */
export function macd(values: Float64Array, fast: number, slow: number, signal: number): MacdLines {
  checkPeriod("MACD fast", fast);
  checkPeriod("MACD slow", slow, 2);
  checkPeriod("MACD signal", signal);
  if (fast >= slow) {
    throw new RangeError(`Invalid MACD periods ${fast}/${slow}: the fast period must be less than the slow one`);
  }

  const fastLine = ema(values, fast);
  const slowLine = ema(values, slow);
  const line = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) line[i] = (fastLine[i] as number) - (slowLine[i] as number);

  const signalLine = ema(line, signal);
  const histogram = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) histogram[i] = (line[i] as number) - (signalLine[i] as number);
  return { macd: line, signal: signalLine, histogram };
}
