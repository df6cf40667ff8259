/** Calendar helpers for the statistics: data resolution, period buckets and duration rounding. */

export const MS_PER_DAY = 86_400_000;

/** Units from coarsest to finest, as pandas' `Timedelta.resolution_string` considers them. */
const RESOLUTION_UNITS_MS: readonly number[] = [MS_PER_DAY, 3_600_000, 60_000, 1_000, 1];

/** Returns the usual spacing of the bars: the median step over the last 100 timestamps (backtesting.py's `_data_period`). */
export function dataPeriodMs(time: Float64Array): number {
  const from = Math.max(0, time.length - 100);
  const steps: number[] = [];
  for (let i = from + 1; i < time.length; i++) steps.push((time[i] as number) - (time[i - 1] as number));
  if (steps.length === 0) return NaN;

  steps.sort((a, b) => a - b);
  const middle = steps.length >> 1;
  if (steps.length % 2 === 1) return steps[middle] as number;
  return ((steps[middle - 1] as number) + (steps[middle] as number)) / 2;
}

/**
 * Returns the finest unit with a non-zero part in `periodMs`: a day for daily bars, an hour for
 * hourly bars, a minute for 1-minute bars. Durations in the statistics are rounded up to it.
 */
export function resolutionMs(periodMs: number): number {
  if (!Number.isFinite(periodMs) || periodMs <= 0) return 1;
  return RESOLUTION_UNITS_MS.find((unit) => periodMs % unit === 0) ?? 1;
}

/** Rounds a duration up to a whole number of `unitMs`; NaN stays NaN. */
export function ceilDuration(durationMs: number, unitMs: number): number {
  return Math.ceil(durationMs / unitMs) * unitMs;
}

/** Bucketing and annualisation of returns for bars of a given spacing. */
export interface ReturnPeriod {
  /** Periods per year used to annualise. */
  perYear: number;
  /** Key of the calendar bucket that contains `timeMs`; equal keys share a bucket. */
  bucket(timeMs: number): number;
}

/**
 * Picks the bucket and the annualisation factor as backtesting.py 0.6.6 does: weekly bars (a 7-day
 * period) give weeks ending Sunday and 52 a year, 31-day bars give calendar months and 12, 365-day
 * bars give calendar years and 1. Anything else uses calendar days and 365 a year when more than
 * 60% of a 2-in-7 share of the bars fall on weekends (markets that trade every day), else 252.
 */
export function returnPeriod(time: Float64Array, periodMs: number): ReturnPeriod {
  // NOTE: only the daily bucketing (daily and intraday bars) is checked against backtesting.py
  // figures. The weekly, monthly and yearly branches follow its rules but have no reference test.
  const periodDays = Math.floor(periodMs / MS_PER_DAY);
  if (periodDays === 7) return { perYear: 52, bucket: weekEndingSunday };
  if (periodDays === 31) return { perYear: 12, bucket: calendarMonth };
  if (periodDays === 365) return { perYear: 1, bucket: (timeMs) => new Date(timeMs).getUTCFullYear() };

  let weekendBars = 0;
  for (let i = 0; i < time.length; i++) {
    const weekday = dayOfWeek(time[i] as number);
    if (weekday === 0 || weekday === 6) weekendBars++;
  }
  const tradesWeekends = weekendBars / time.length > (2 / 7) * 0.6;
  return { perYear: tradesWeekends ? 365 : 252, bucket: (timeMs) => Math.floor(timeMs / MS_PER_DAY) };
}

/** Day of the week in UTC, 0 for Sunday (1970-01-01 was a Thursday). */
function dayOfWeek(timeMs: number): number {
  const day = Math.floor(timeMs / MS_PER_DAY);
  return (((day + 4) % 7) + 7) % 7;
}

function weekEndingSunday(timeMs: number): number {
  const day = Math.floor(timeMs / MS_PER_DAY);
  return day + ((7 - dayOfWeek(timeMs)) % 7);
}

function calendarMonth(timeMs: number): number {
  const date = new Date(timeMs);
  return date.getUTCFullYear() * 12 + date.getUTCMonth();
}
