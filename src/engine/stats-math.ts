/** Small numeric helpers of the statistics. They loop because spreading 500,000 arguments overflows the stack. */
import { MS_PER_DAY } from "./periods";

/** Turns NaN and ±Infinity into null so that the statistics survive JSON. */
export function finite(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

/** Converts a duration in milliseconds to days, null when it is not finite. */
export function days(durationMs: number): number | null {
  return finite(durationMs / MS_PER_DAY);
}

/** Largest value, skipping NaN; -Infinity when there is none. */
export function maxOf(values: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const value = values[i] as number;
    if (value > max) max = value;
  }
  return max;
}

/** Smallest value, skipping NaN; Infinity when there is none. */
export function minOf(values: ArrayLike<number>): number {
  let min = Infinity;
  for (let i = 0; i < values.length; i++) {
    const value = values[i] as number;
    if (value < min) min = value;
  }
  return min;
}

/** Arithmetic mean, NaN for no values. */
export function mean(values: ArrayLike<number>): number {
  if (values.length === 0) return NaN;
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i] as number;
  return sum / values.length;
}

/** Sample variance (ddof = 1), NaN for fewer than 2 values. */
export function variance(values: ArrayLike<number>): number {
  if (values.length < 2) return NaN;
  const average = mean(values);
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += ((values[i] as number) - average) ** 2;
  return sum / (values.length - 1);
}

/** Geometric mean of returns, 0 when any return is -100% or worse (backtesting.py's `geometric_mean`). */
export function geometricMean(returns: ArrayLike<number>): number {
  if (returns.length === 0) return NaN;
  let logSum = 0;
  for (let i = 0; i < returns.length; i++) {
    const value = returns[i] as number;
    if (value + 1 <= 0) return 0;
    logSum += Math.log(value + 1);
  }
  return Math.exp(logSum / returns.length) - 1;
}

/** Largest |s| = |(value - previous) / (value + previous)| for which `logRatio` uses its series (|value / previous - 1| < 1/128). */
const SERIES_LIMIT = 1 / 257;

/**
 * log(value / previous) for positive values, about four times faster than `Math.log` for ratios
 * near 1, which bar-to-bar equity returns nearly always are. With s = (value - previous) /
 * (value + previous), log(value / previous) = 2 atanh(s) = 2(s + s³/3 + s⁵/5 + …), and for
 * |s| < 1/257 the terms after s⁹/9 are below 1e-24 relative. The difference is exact for values
 * within a factor 2 of each other, so s carries one rounding, where `Math.log` would see the
 * rounding of the ratio.
 */
export function logRatio(value: number, previous: number): number {
  const s = (value - previous) / (value + previous);
  if (!(s > -SERIES_LIMIT && s < SERIES_LIMIT)) return Math.log(value / previous);

  const s2 = s * s;
  return 2 * s * (1 + s2 * (1 / 3 + s2 * (1 / 5 + s2 * (1 / 7 + s2 / 9))));
}
