/**
 * Indicators computed once over a whole series. Each returns an array as long as its input, with
 * NaN for the warm-up bars where the value is not yet defined.
 */

/**
 * Simple moving average over `period` values, NaN for the first `period - 1` bars (as pandas'
 * `rolling(period).mean()`). The rolling sum is Kahan-compensated so that a long series does not
 * drift away from the exact window sums, which would shift crossovers that are within a few ulps.
 */
export function sma(values: Float64Array, period: number): Float64Array {
  if (!Number.isInteger(period) || period < 1) {
    throw new RangeError(`SMA period ${period} is invalid: expected an integer of at least 1`);
  }

  const out = new Float64Array(values.length).fill(NaN);
  let sum = 0;
  let compensation = 0;
  const add = (value: number): void => {
    const corrected = value - compensation;
    const next = sum + corrected;
    compensation = next - sum - corrected;
    sum = next;
  };

  for (let i = 0; i < values.length; i++) {
    add(values[i] as number);
    if (i >= period) add(-(values[i - period] as number));
    if (i >= period - 1) out[i] = sum / period;
  }
  return out;
}

/**
 * True when series `a` crosses above series `b` at bar `i`: a < b on the previous bar and a > b on
 * this one. A tie on either bar is not a cross, and NaN never crosses (backtesting.py's `crossover`).
 */
export function crossover(a: Float64Array, b: Float64Array, i: number): boolean {
  if (i < 1) return false;
  return (a[i - 1] as number) < (b[i - 1] as number) && (a[i] as number) > (b[i] as number);
}

/**
 * Index of the first non-NaN value, or 0 when there is none. The 0 for an all-NaN series matches
 * backtesting.py 0.6.6, which takes `argmin` of the NaN mask.
 */
export function firstValidIndex(values: Float64Array): number {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isNaN(values[i])) return i;
  }
  return 0;
}
