/** Helpers shared by the indicators and by strategies that read them bar by bar. */

/** Throws a RangeError unless `period` is an integer of at least `min`. */
export function checkPeriod(indicator: string, period: number, min = 1): void {
  if (!Number.isInteger(period) || period < min) {
    throw new RangeError(`Invalid ${indicator} period ${period}: expected an integer of at least ${min}`);
  }
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

/**
 * True when series `a` crosses above series `b` at bar `i`: a < b on the previous bar and a > b on
 * this one. A tie on either bar is not a cross, and NaN never crosses (backtesting.py's `crossover`).
 */
export function crossover(a: Float64Array, b: Float64Array, i: number): boolean {
  if (i < 1) return false;
  return (a[i - 1] as number) < (b[i - 1] as number) && (a[i] as number) > (b[i] as number);
}

/** True when series `a` crosses below series `b` at bar `i`; the mirror of `crossover`. */
export function crossunder(a: Float64Array, b: Float64Array, i: number): boolean {
  return crossover(b, a, i);
}

/**
 * 1 when `a` crosses above `b` at bar `i`, -1 when it crosses below, else 0: `crossover` both ways
 * with the four values read once, for strategies that check both directions on every bar.
 */
export function crossDirection(a: Float64Array, b: Float64Array, i: number): number {
  if (i < 1) return 0;
  const before = (a[i - 1] as number) - (b[i - 1] as number);
  const now = (a[i] as number) - (b[i] as number);
  if (before < 0 && now > 0) return 1;
  if (before > 0 && now < 0) return -1;
  return 0;
}
