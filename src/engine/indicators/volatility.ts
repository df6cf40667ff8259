/** Rolling dispersion indicators computed once over a whole series, NaN during their warm-up. */
import { sma } from "./moving-averages";
import { checkPeriod, firstValidIndex } from "./series";

/**
 * Bars between two exact recomputations of the rolling variance. The sliding update in between
 * accumulates rounding error, and recomputing every so often bounds it at a cost of
 * period / RESYNC_BARS extra operations per bar.
 */
const RESYNC_BARS = 512;

/**
 * Rolling standard deviation over `period` values with `ddof` delta degrees of freedom: 0 gives
 * the population deviation (Bollinger's choice), 1 the sample deviation (pandas' default). The
 * window's mean and sum of squared deviations slide by Welford's update and are recomputed
 * exactly every `RESYNC_BARS` bars, so the result stays accurate on long series of large prices,
 * where the textbook Σx² - (Σx)²/n loses most of its digits.
 */
export function stddev(values: Float64Array, period: number, ddof = 0): Float64Array {
  if (ddof !== 0 && ddof !== 1) throw new RangeError(`Invalid ddof ${ddof}: expected 0 or 1`);
  checkPeriod("standard deviation", period, ddof + 1);

  const out = new Float64Array(values.length).fill(NaN);
  const firstFull = firstValidIndex(values) + period - 1;
  const divisor = period - ddof;
  let mean = 0;
  let squares = 0;

  for (let i = firstFull; i < values.length; i++) {
    if ((i - firstFull) % RESYNC_BARS === 0) {
      mean = 0;
      for (let k = i - period + 1; k <= i; k++) mean += values[k] as number;
      mean /= period;
      squares = 0;
      for (let k = i - period + 1; k <= i; k++) squares += ((values[k] as number) - mean) ** 2;
    } else {
      const added = values[i] as number;
      const removed = values[i - period] as number;
      const previousMean = mean;
      mean += (added - removed) / period;
      squares += (added - removed) * (added - mean + removed - previousMean);
    }
    out[i] = Math.sqrt(Math.max(0, squares) / divisor);
  }
  return out;
}

/** Bollinger Bands: a simple moving average and bands `k` standard deviations above and below. */
export interface BollingerBands {
  middle: Float64Array;
  upper: Float64Array;
  lower: Float64Array;
}

/**
 * Bollinger Bands over `period` values: middle = SMA(period), upper and lower = middle ± k ×
 * population standard deviation over the same window, as John Bollinger defines them.
 */
export function bollinger(values: Float64Array, period: number, k: number): BollingerBands {
  return bollingerFrom(sma(values, period), stddev(values, period, 0), k);
}

/** Builds the bands from an SMA and a standard deviation already computed, so a cache can share them. */
export function bollingerFrom(middle: Float64Array, deviation: Float64Array, k: number): BollingerBands {
  if (!(k > 0) || !Number.isFinite(k)) throw new RangeError(`Invalid Bollinger width ${k}: expected a positive number`);

  const upper = new Float64Array(middle.length);
  const lower = new Float64Array(middle.length);
  for (let i = 0; i < middle.length; i++) {
    const width = k * (deviation[i] as number);
    upper[i] = (middle[i] as number) + width;
    lower[i] = (middle[i] as number) - width;
  }
  return { middle, upper, lower };
}
