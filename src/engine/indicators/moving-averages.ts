/**
 * Moving averages computed once over a whole series. Each returns a new array as long as its
 * input, NaN for the warm-up bars where the value is not defined yet. Input NaN values are
 * accepted only at the start of the series (the warm-up of another indicator).
 */
import { checkPeriod, firstValidIndex } from "./series";

/**
 * Simple moving average over `period` values, NaN for the first `period - 1` valid bars (as
 * pandas' `rolling(period).mean()`). The window sum slides by adding (new - old) with Kahan
 * compensation, so that a long series does not drift away from the exact window sums, which
 * would shift crossovers that are within a few ulps. Each step's own rounding is relative to the
 * small difference, not to the sum.
 */
export function sma(values: Float64Array, period: number): Float64Array {
  checkPeriod("SMA", period);

  const out = new Float64Array(values.length).fill(NaN);
  const first = firstValidIndex(values);
  const firstFull = first + period - 1;
  if (firstFull >= values.length) return out;

  let sum = 0;
  let compensation = 0;
  for (let i = first; i <= firstFull; i++) {
    const corrected = (values[i] as number) - compensation;
    const next = sum + corrected;
    compensation = next - sum - corrected;
    sum = next;
  }
  out[firstFull] = sum / period;

  for (let i = firstFull + 1; i < values.length; i++) {
    const corrected = (values[i] as number) - (values[i - period] as number) - compensation;
    const next = sum + corrected;
    compensation = next - sum - corrected;
    sum = next;
    out[i] = sum / period;
  }
  return out;
}

/**
 * Exponential moving average with smoothing factor α = 2 / (period + 1), seeded with the simple
 * average of the first `period` valid values (the convention of TA-Lib, backtrader and
 * StockCharts): out[s] = mean(values[s-period+1..s]), then out[i] = out[i-1] + α × (values[i] -
 * out[i-1]).
 */
export function ema(values: Float64Array, period: number): Float64Array {
  checkPeriod("EMA", period);
  return exponentialAverage(values, period, 2 / (period + 1));
}

/**
 * Wilder's smoothing (his "average" in RSI and ATR): an exponential average with α = 1 / period,
 * seeded with the simple average of the first `period` valid values.
 */
export function wilderAverage(values: Float64Array, period: number): Float64Array {
  checkPeriod("Wilder average", period);
  return exponentialAverage(values, period, 1 / period);
}

function exponentialAverage(values: Float64Array, period: number, alpha: number): Float64Array {
  const out = new Float64Array(values.length).fill(NaN);
  const first = firstValidIndex(values);
  const seedBar = first + period - 1;
  if (seedBar >= values.length) return out;

  let sum = 0;
  for (let i = first; i <= seedBar; i++) sum += values[i] as number;
  let average = sum / period;
  out[seedBar] = average;
  for (let i = seedBar + 1; i < values.length; i++) {
    average += alpha * ((values[i] as number) - average);
    out[i] = average;
  }
  return out;
}
