/**
 * Milliseconds on CLOCK_MONOTONIC, with sub-microsecond resolution. Linux's monotonic clock is one
 * clock for the whole machine, so values taken in different processes compare directly: the
 * publisher stamps a message with it and the load generator subtracts it from its own reading.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rounds to `digits` decimals, for figures written to the results. */
export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
