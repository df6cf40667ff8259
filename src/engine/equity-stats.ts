/** Statistics of the equity curve: drawdowns, beta against the close, and annualised period returns. */
import type { CandleCalendar } from "./candle-calendar";
import { MS_PER_DAY } from "./periods";
import { geometricMean, logRatio, variance } from "./stats-math";

/** Figures of one pass over the equity curve. */
export interface EquityScan {
  equityPeak: number;
  /** Deepest drawdown as a fraction, 0 or more. */
  maxDrawdown: number;
  /** Number of drawdown periods (see `scanEquity`). */
  drawdownPeriods: number;
  /** Mean of the deepest drawdown of each period, as a fraction; NaN without periods. */
  avgDrawdown: number;
  /** Maximum duration of a drawdown period in ms, -Infinity without periods. */
  maxDrawdownDurationMs: number;
  /** Mean drawdown period in ms; NaN without periods. */
  avgDrawdownDurationMs: number;
  /** cov(log equity returns, log close returns) / var(log close returns) over all bars. */
  beta: number;
}

/**
 * Scans the equity once for its peak, drawdowns and beta.
 *
 * The drawdown of a bar is 1 - equity / running peak. Drawdown periods run between bars at the
 * running peak (drawdown exactly 0), the last period ending at the last bar even if equity has
 * not recovered. A period spans at least one bar below the peak. Its duration is the calendar
 * time from the bar at the peak to the bar where it ends, and its depth is the deepest drawdown
 * in between. The peak is constant within a period, so the depth is 1 - lowest equity / peak,
 * and the scan divides once per period instead of once per bar. Both give the same value,
 * because rounding is monotonic.
 */
export function scanEquity(time: Float64Array, equity: Float64Array, calendar: CandleCalendar): EquityScan {
  const n = equity.length;
  const deviations = calendar.closeReturnDeviations;
  let peak = -Infinity;
  let trough = Infinity;
  let maxDrawdown = 0;
  let previousZero = -1;
  let periods = 0;
  let depthSum = 0;
  let durationSum = 0;
  let maxDuration = -Infinity;
  let logReturnSum = 0;
  let crossSum = 0;
  let previous = NaN;

  for (let i = 0; i < n; i++) {
    const value = equity[i] as number;
    const atPeak = value >= peak;
    if (!atPeak && value < trough) trough = value;

    if (atPeak || i === n - 1) {
      // Close the period that started at the previous bar at the peak.
      const depth = trough < peak ? 1 - trough / peak : 0;
      if (depth > maxDrawdown) maxDrawdown = depth;
      if (previousZero !== -1 && i > previousZero + 1) {
        const duration = (time[i] as number) - (time[previousZero] as number);
        periods++;
        depthSum += depth;
        durationSum += duration;
        if (duration > maxDuration) maxDuration = duration;
      }
      if (atPeak) {
        peak = value;
        trough = Infinity;
        previousZero = i;
      }
    }

    // Flat equity has a log return of exactly 0, so only bars that moved need the logarithm.
    if (i > 0 && value !== previous) {
      const logReturn = logRatio(value, previous);
      logReturnSum += logReturn;
      crossSum += logReturn * (deviations[i - 1] as number);
    }
    previous = value;
  }
  // NOTE: a drawdown confined to the last bar forms no period here. backtesting.py 0.6.6 reports
  // it as a period whose duration is the drawdown fraction itself, which is not a duration.

  // Σ(x - mean x)(y - mean y) = Σ x (y - mean y) - mean x × Σ(y - mean y).
  const steps = n - 1;
  const covariance = crossSum - (logReturnSum / steps) * calendar.closeReturnDeviationSum;
  return {
    equityPeak: peak,
    maxDrawdown,
    drawdownPeriods: periods,
    avgDrawdown: periods === 0 ? NaN : depthSum / periods,
    maxDrawdownDurationMs: maxDuration,
    avgDrawdownDurationMs: periods === 0 ? NaN : durationSum / periods,
    beta: steps < 2 ? NaN : covariance / calendar.closeReturnSquareSum,
  };
}

export interface PeriodReturns {
  annualReturn: number;
  annualVolatility: number;
  /** Root mean square of the negative period returns (positive ones count as 0). */
  downsideDeviation: number;
  perYear: number;
}

/**
 * Computes the returns between calendar periods (days for intraday and daily bars) from the last
 * equity of each period, and annualises them by compounding as backtesting.py 0.6.6 does. The
 * return is (1 + g)^D - 1 and the volatility √((var + (1 + g)²)^D - (1 + g)^(2D)), where g is
 * the geometric mean period return and D the periods per year.
 */
export function periodReturns(equity: Float64Array, calendar: CandleCalendar): PeriodReturns {
  const ends = calendar.periodEnds;
  const returns = new Float64Array(Math.max(0, ends.length - 1));
  let downsideSquares = 0;
  for (let k = 1; k < ends.length; k++) {
    const value = (equity[ends[k] as number] as number) / (equity[ends[k - 1] as number] as number) - 1;
    returns[k - 1] = value;
    downsideSquares += Math.min(value, 0) ** 2;
  }

  const growth = 1 + geometricMean(returns);
  const perYear = calendar.perYear;
  return {
    annualReturn: growth ** perYear - 1,
    annualVolatility: Math.sqrt((variance(returns) + growth ** 2) ** perYear - growth ** (2 * perYear)),
    downsideDeviation: returns.length === 0 ? NaN : Math.sqrt(downsideSquares / returns.length),
    perYear,
  };
}

/** Compound annual growth over calendar time, with 365.25-day years. */
export function cagr(equityStart: number, equityFinal: number, durationMs: number): number {
  const years = durationMs / MS_PER_DAY / 365.25;
  if (years === 0) return NaN;
  return (equityFinal / equityStart) ** (1 / years) - 1;
}

/** Share of the `bars` bars inside [entryBar, exitBar] of at least one of the intervals. */
export function coveredShare(bars: number, entryBars: Int32Array, exitBars: Int32Array, count: number): number {
  if (count === 0) return 0;

  // Trades close in order, so their entries are nearly always sorted already.
  let order: number[] | undefined;
  for (let k = 1; k < count; k++) {
    if ((entryBars[k] as number) < (entryBars[k - 1] as number)) {
      order = Array.from({ length: count }, (_, j) => j).sort(
        (a, b) => (entryBars[a] as number) - (entryBars[b] as number),
      );
      break;
    }
  }

  let covered = 0;
  let runStart = -1;
  let runEnd = -2;
  for (let j = 0; j < count; j++) {
    const k = order === undefined ? j : (order[j] as number);
    const from = entryBars[k] as number;
    const to = exitBars[k] as number;
    if (from > runEnd + 1) {
      covered += runEnd - runStart + 1;
      runStart = from;
      runEnd = to;
    } else if (to > runEnd) {
      runEnd = to;
    }
  }
  covered += runEnd - runStart + 1;
  return covered / bars;
}
