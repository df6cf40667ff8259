import type { Candles } from "../data/candles";
import { dataPeriodMs, resolutionMs, returnPeriod } from "./periods";

/**
 * What the statistics need from the candles alone, whatever the strategy did: computed once per
 * candle series and reused by every backtest and sweep combination over it.
 */
export interface CandleCalendar {
  /** Finest calendar unit of the bar spacing, in ms; durations are rounded up to it. */
  resolutionMs: number;
  /** Return periods per year used to annualise: 252 or 365 for daily buckets, 52, 12 or 1. */
  perYear: number;
  /** Index of the last bar of each return period (calendar day, week, month or year), ascending. */
  periodEnds: Int32Array;
  /** log(close[i+1] / close[i]) minus its mean, for i < length - 1: the market side of beta. */
  closeReturnDeviations: Float64Array;
  /** Σ of `closeReturnDeviations`, 0 up to rounding. */
  closeReturnDeviationSum: number;
  /** Σ of the squared `closeReturnDeviations`. */
  closeReturnSquareSum: number;
}

/** Calendars by candle series. Candles are never mutated after loading, so an entry stays valid for the series' lifetime. */
const calendars = new WeakMap<Candles, CandleCalendar>();

/** Returns the calendar of `candles`, computing it on first use. */
export function candleCalendar(candles: Candles): CandleCalendar {
  let calendar = calendars.get(candles);
  if (calendar === undefined) {
    calendar = buildCalendar(candles);
    calendars.set(candles, calendar);
  }
  return calendar;
}

function buildCalendar(candles: Candles): CandleCalendar {
  const { time, close } = candles;
  const periodMs = dataPeriodMs(time);
  const period = returnPeriod(time, periodMs);

  // The last bar of each run of bars that share a period bucket.
  const ends: number[] = [];
  for (let i = 0; i < time.length; i++) {
    const next = time[i + 1];
    if (next === undefined || period.bucket(next) !== period.bucket(time[i] as number)) ends.push(i);
  }

  const steps = Math.max(0, close.length - 1);
  const deviations = new Float64Array(steps);
  let sum = 0;
  for (let i = 0; i < steps; i++) {
    const value = Math.log((close[i + 1] as number) / (close[i] as number));
    deviations[i] = value;
    sum += value;
  }
  const average = sum / steps;
  let deviationSum = 0;
  let squareSum = 0;
  for (let i = 0; i < steps; i++) {
    const deviation = (deviations[i] as number) - average;
    deviations[i] = deviation;
    deviationSum += deviation;
    squareSum += deviation * deviation;
  }

  return {
    resolutionMs: resolutionMs(periodMs),
    perYear: period.perYear,
    periodEnds: Int32Array.from(ends),
    closeReturnDeviations: deviations,
    closeReturnDeviationSum: deviationSum,
    closeReturnSquareSum: squareSum,
  };
}
