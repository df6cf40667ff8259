import { EngineInputError } from "../engine/errors";
import { type Candles, allocateCandles, sliceCandles } from "./candles";

/** Intervals a backtest or sweep may resample its dataset to. */
export const RESAMPLE_TIMEFRAMES = ["5m", "15m", "1h", "4h", "1d"] as const;

export type ResampleTimeframe = (typeof RESAMPLE_TIMEFRAMES)[number];

const UNIT_MS: Readonly<Record<string, number>> = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const TIMEFRAME = /^([1-9]\d{0,5})([smhdw])$/;

/**
 * Parses a timeframe such as `1m`, `15m`, `4h`, `1d` or `1w` into milliseconds, or returns
 * undefined when the text has another form.
 */
export function timeframeMs(timeframe: string): number | undefined {
  const match = TIMEFRAME.exec(timeframe);
  if (match === null) return undefined;
  return Number(match[1]) * (UNIT_MS[match[2] as string] as number);
}

/** Formats milliseconds as the largest whole timeframe unit, such as `1h` for 3,600,000. */
export function formatTimeframe(ms: number): string {
  for (const unit of ["w", "d", "h", "m", "s"]) {
    const size = UNIT_MS[unit] as number;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * Returns why candles with bars `sourceMs` apart cannot be resampled to `target`, or undefined
 * when they can: the target must be a whole multiple of the source interval, which rules out a
 * shorter target.
 */
export function resampleProblem(sourceMs: number, target: string): string | undefined {
  const targetMs = timeframeMs(target);
  if (targetMs === undefined || !(RESAMPLE_TIMEFRAMES as readonly string[]).includes(target)) {
    return `resample "${target}" is not supported: use one of ${RESAMPLE_TIMEFRAMES.join(", ")}`;
  }
  if (targetMs < sourceMs) {
    return `resample "${target}" is shorter than the dataset's bar interval of ${formatTimeframe(sourceMs)}: pick a target of at least ${formatTimeframe(sourceMs)}, or leave resample out`;
  }
  if (targetMs % sourceMs !== 0) {
    return `resample "${target}" is not a whole multiple of the dataset's bar interval of ${formatTimeframe(sourceMs)}: pick a target that is`;
  }
  return undefined;
}

/**
 * Aggregates candles into bars of `targetMs`, aligned to multiples of `targetMs` since the Unix
 * epoch (so `1d` bars start at 00:00 UTC): the first open, the highest high, the lowest low, the
 * last close and the summed volume of the candles inside each bar. Bars without candles are left
 * out. Volume stays NaN when the source has none.
 */
export function resampleCandles(candles: Candles, targetMs: number): Candles {
  const out = allocateCandles(candles.length);
  let count = -1;
  let bucket = Number.NaN;

  for (let i = 0; i < candles.length; i++) {
    const time = candles.time[i] as number;
    const start = time - mod(time, targetMs);
    const high = candles.high[i] as number;
    const low = candles.low[i] as number;
    if (start !== bucket) {
      bucket = start;
      count++;
      out.time[count] = start;
      out.open[count] = candles.open[i] as number;
      out.high[count] = high;
      out.low[count] = low;
      out.volume[count] = candles.volume[i] as number;
    } else {
      if (high > (out.high[count] as number)) out.high[count] = high;
      if (low < (out.low[count] as number)) out.low[count] = low;
      out.volume[count] = (out.volume[count] as number) + (candles.volume[i] as number);
    }
    out.close[count] = candles.close[i] as number;
  }
  return sliceCandles(out, count + 1);
}

/** The remainder with the sign of the divisor, so times before 1970 land in the right bar. */
function mod(value: number, divisor: number): number {
  return ((value % divisor) + divisor) % divisor;
}

/**
 * Resamples candles whose bars are `sourceMs` apart, or throws `EngineInputError` on field
 * `resample` with the reason from {@link resampleProblem}.
 */
export function resampleChecked(candles: Candles, sourceMs: number, target: string): Candles {
  const problem = resampleProblem(sourceMs, target);
  if (problem !== undefined) throw new EngineInputError("resample", problem);
  return resampleCandles(candles, timeframeMs(target) as number);
}
