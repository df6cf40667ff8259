import type { Candles } from "../data/candles";
import { isoTime } from "../data/candles";
import type { SimulationOutput } from "./backtest";
import type { ClosedTrade } from "./broker";
import { MS_PER_DAY, ceilDuration, dataPeriodMs, resolutionMs, returnPeriod } from "./periods";

/**
 * backtesting.py 0.6.6's statistics under camelCase names, percentages in percent and durations in
 * days. Drawdowns are negative percentages, as backtesting.py reports them. A value that is not
 * defined (no trades, no losing trade, a zero denominator) is null.
 */
export type EngineStats = {
  start: string;
  end: string;
  durationDays: number;
  exposurePct: number | null;
  equityFinal: number | null;
  equityPeak: number | null;
  /** Sum of entry and exit fees of the closed trades, in cash. */
  commissions: number | null;
  returnPct: number | null;
  buyHoldReturnPct: number | null;
  returnAnnPct: number | null;
  volatilityAnnPct: number | null;
  cagrPct: number | null;
  sharpe: number | null;
  sortino: number | null;
  calmar: number | null;
  alphaPct: number | null;
  beta: number | null;
  maxDrawdownPct: number | null;
  avgDrawdownPct: number | null;
  maxDrawdownDurationDays: number | null;
  avgDrawdownDurationDays: number | null;
  trades: number;
  winRatePct: number | null;
  bestTradePct: number | null;
  worstTradePct: number | null;
  avgTradePct: number | null;
  maxTradeDurationDays: number | null;
  avgTradeDurationDays: number | null;
  profitFactor: number | null;
  expectancyPct: number | null;
  sqn: number | null;
  kelly: number | null;
};

/** Statistics plus the per-bar drawdown they were computed from, as a fraction below the running peak. */
export interface StatsOutput {
  stats: EngineStats;
  drawdown: Float64Array;
}

/** Turns NaN and ±Infinity into null so that the statistics survive JSON. */
function finite(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

/** Computes the statistics of a finished simulation over its candles. */
export function computeStats(candles: Candles, output: SimulationOutput): StatsOutput {
  const { time, close } = candles;
  const { equity, trades, warmup } = output;
  const n = candles.length;
  const first = time[0] as number;
  const last = time[n - 1] as number;
  const resolution = resolutionMs(dataPeriodMs(time));

  const drawdown = drawdownSeries(equity);
  const periods = drawdownPeriods(time, drawdown);
  const maxDrawdown = Math.max(0, maxOf(drawdown));
  const returns = periodReturns(time, equity);
  const tradeFigures = tradeStats(time, trades, resolution);

  const equityFinal = equity[n - 1] as number;
  const equityStart = equity[0] as number;
  const returnPct = ((equityFinal - equityStart) / equityStart) * 100;
  const buyHoldStart = close[warmup] as number;
  const buyHoldReturnPct = (((close[n - 1] as number) - buyHoldStart) / buyHoldStart) * 100;
  const beta = betaOf(equity, close);
  const durationMs = last - first;

  const stats: EngineStats = {
    start: isoTime(first),
    end: isoTime(last),
    durationDays: durationMs / MS_PER_DAY,
    exposurePct: finite(exposure(n, trades) * 100),
    equityFinal: finite(equityFinal),
    equityPeak: finite(maxOf(equity)),
    commissions: finite(trades.reduce((sum, trade) => sum + trade.fees, 0)),
    returnPct: finite(returnPct),
    buyHoldReturnPct: finite(buyHoldReturnPct),
    returnAnnPct: finite(returns.annualReturn * 100),
    volatilityAnnPct: finite(returns.annualVolatility * 100),
    cagrPct: finite(cagr(equityStart, equityFinal, durationMs) * 100),
    sharpe: finite((returns.annualReturn * 100) / (returns.annualVolatility * 100 || NaN)),
    sortino: finite(returns.annualReturn / (returns.downsideDeviation * Math.sqrt(returns.perYear))),
    calmar: finite(returns.annualReturn / (maxDrawdown || NaN)),
    alphaPct: finite(returnPct - beta * buyHoldReturnPct),
    beta: finite(beta),
    maxDrawdownPct: finite(-maxDrawdown * 100),
    avgDrawdownPct: finite(-mean(periods.map((period) => period.peak)) * 100),
    maxDrawdownDurationDays: days(ceilDuration(maxOf(periods.map((period) => period.durationMs)), resolution)),
    avgDrawdownDurationDays: days(ceilDuration(mean(periods.map((period) => period.durationMs)), resolution)),
    ...tradeFigures,
  };
  return { stats, drawdown };
}

/** Largest value, skipping NaN; -Infinity when there is none. Loops because spreading 500,000 arguments overflows the stack. */
function maxOf(values: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const value = values[i] as number;
    if (value > max) max = value;
  }
  return max;
}

/** Smallest value, skipping NaN; Infinity when there is none. */
function minOf(values: ArrayLike<number>): number {
  let min = Infinity;
  for (let i = 0; i < values.length; i++) {
    const value = values[i] as number;
    if (value < min) min = value;
  }
  return min;
}

function mean(values: ArrayLike<number>): number {
  if (values.length === 0) return NaN;
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i] as number;
  return sum / values.length;
}

/** Sample variance (ddof = 1). */
function variance(values: readonly number[]): number {
  if (values.length < 2) return NaN;
  const average = mean(values);
  let sum = 0;
  for (const value of values) sum += (value - average) ** 2;
  return sum / (values.length - 1);
}

function days(durationMs: number): number | null {
  return finite(durationMs / MS_PER_DAY);
}

/** Geometric mean of returns, 0 when any return is -100% or worse (backtesting.py's `geometric_mean`). */
function geometricMean(returns: readonly number[]): number {
  if (returns.length === 0) return NaN;
  let logSum = 0;
  for (const value of returns) {
    if (value + 1 <= 0) return 0;
    logSum += Math.log(value + 1);
  }
  return Math.exp(logSum / returns.length) - 1;
}

/** Fraction below the running peak at each bar: 1 - equity / max(equity so far). */
function drawdownSeries(equity: Float64Array): Float64Array {
  const drawdown = new Float64Array(equity.length);
  let peak = -Infinity;
  for (let i = 0; i < equity.length; i++) {
    const value = equity[i] as number;
    if (value > peak) peak = value;
    drawdown[i] = 1 - value / peak;
  }
  return drawdown;
}

interface DrawdownPeriod {
  durationMs: number;
  /** Deepest drawdown of the period, as a fraction. */
  peak: number;
}

/**
 * Splits the drawdown into periods between bars at the running peak (drawdown exactly 0), the
 * last period ending at the last bar even if equity has not recovered. A period spans at least
 * one bar below the peak, and its duration is measured in calendar time from the bar at the
 * peak to the bar where it ends.
 */
function drawdownPeriods(time: Float64Array, drawdown: Float64Array): DrawdownPeriod[] {
  const periods: DrawdownPeriod[] = [];
  const n = drawdown.length;
  let previousZero = -1;

  for (let i = 0; i < n; i++) {
    const isBoundary = drawdown[i] === 0 || i === n - 1;
    if (!isBoundary) continue;

    if (previousZero !== -1 && i > previousZero + 1) {
      let peak = 0;
      for (let k = previousZero; k <= i; k++) peak = Math.max(peak, drawdown[k] as number);
      periods.push({ durationMs: (time[i] as number) - (time[previousZero] as number), peak });
    }
    previousZero = i;
  }
  // NOTE: a drawdown confined to the last bar forms no period here. backtesting.py 0.6.6 reports
  // it as a period whose duration is the drawdown fraction itself, which is not a duration.
  return periods;
}

interface PeriodReturns {
  annualReturn: number;
  annualVolatility: number;
  /** Root mean square of the negative period returns (positive ones count as 0). */
  downsideDeviation: number;
  perYear: number;
}

/**
 * Returns between calendar periods (days for intraday and daily bars), taken from the last equity
 * of each period that has bars, then annualised by compounding as backtesting.py 0.6.6 does.
 */
function periodReturns(time: Float64Array, equity: Float64Array): PeriodReturns {
  const period = returnPeriod(time, dataPeriodMs(time));

  const closes: number[] = [];
  let currentBucket = NaN;
  for (let i = 0; i < equity.length; i++) {
    const bucket = period.bucket(time[i] as number);
    if (bucket === currentBucket) closes[closes.length - 1] = equity[i] as number;
    else closes.push(equity[i] as number);
    currentBucket = bucket;
  }

  const returns: number[] = [];
  for (let k = 1; k < closes.length; k++) returns.push((closes[k] as number) / (closes[k - 1] as number) - 1);

  const growth = 1 + geometricMean(returns);
  const perYear = period.perYear;
  const annualReturn = growth ** perYear - 1;
  const annualVolatility = Math.sqrt((variance(returns) + growth ** 2) ** perYear - growth ** (2 * perYear));
  const downsideDeviation = Math.sqrt(mean(returns.map((value) => Math.min(value, 0) ** 2)));
  return { annualReturn, annualVolatility, downsideDeviation, perYear };
}

/** Compound annual growth over calendar time, with 365.25-day years. */
function cagr(equityStart: number, equityFinal: number, durationMs: number): number {
  const years = durationMs / MS_PER_DAY / 365.25;
  if (years === 0) return NaN;
  return (equityFinal / equityStart) ** (1 / years) - 1;
}

/**
 * Beta of the equity against the close: cov(log equity returns, log close returns) / var(log
 * close returns) over all bars, sample statistics.
 */
function betaOf(equity: Float64Array, close: Float64Array): number {
  const n = equity.length - 1;
  if (n < 2) return NaN;

  const x = new Float64Array(n);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = Math.log((equity[i + 1] as number) / (equity[i] as number));
    y[i] = Math.log((close[i + 1] as number) / (close[i] as number));
  }
  const meanX = mean(x);
  const meanY = mean(y);
  let covariance = 0;
  let varianceY = 0;
  for (let i = 0; i < n; i++) {
    const dy = (y[i] as number) - meanY;
    covariance += ((x[i] as number) - meanX) * dy;
    varianceY += dy * dy;
  }
  return covariance / n / (varianceY / n);
}

/** Share of bars inside [entryBar, exitBar] of some closed trade. */
function exposure(n: number, trades: readonly ClosedTrade[]): number {
  const covered = new Uint8Array(n);
  for (const trade of trades) covered.fill(1, trade.entryBar, trade.exitBar + 1);
  let count = 0;
  for (let i = 0; i < n; i++) count += covered[i] as number;
  return count / n;
}

type TradeFigures = Pick<
  EngineStats,
  | "trades"
  | "winRatePct"
  | "bestTradePct"
  | "worstTradePct"
  | "avgTradePct"
  | "maxTradeDurationDays"
  | "avgTradeDurationDays"
  | "profitFactor"
  | "expectancyPct"
  | "sqn"
  | "kelly"
>;

/** Return of a closed trade as a fraction, net of its fees. */
export function tradeReturn(trade: ClosedTrade): number {
  const gross = Math.sign(trade.size) * (trade.exitPrice / trade.entryPrice - 1);
  return gross - trade.fees / (Math.abs(trade.size) * trade.entryPrice);
}

/** Profit or loss of a closed trade in cash, net of its fees. */
export function tradeProfit(trade: ClosedTrade): number {
  return trade.size * (trade.exitPrice - trade.entryPrice) - trade.fees;
}

function tradeStats(time: Float64Array, trades: readonly ClosedTrade[], resolution: number): TradeFigures {
  const count = trades.length;
  const profits = trades.map(tradeProfit);
  const returns = trades.map(tradeReturn);
  const durations = trades.map((trade) => (time[trade.exitBar] as number) - (time[trade.entryBar] as number));

  const winRate = count === 0 ? NaN : profits.filter((profit) => profit > 0).length / count;
  const gains = returns.filter((value) => value > 0).reduce((sum, value) => sum + value, 0);
  const losses = Math.abs(returns.filter((value) => value < 0).reduce((sum, value) => sum + value, 0));
  const averageWin = mean(profits.filter((profit) => profit > 0));
  const averageLoss = -mean(profits.filter((profit) => profit < 0));
  const profitDeviation = Math.sqrt(variance(profits));

  return {
    trades: count,
    winRatePct: finite(winRate * 100),
    bestTradePct: finite(maxOf(returns) * 100),
    worstTradePct: finite(minOf(returns) * 100),
    avgTradePct: finite(geometricMean(returns) * 100),
    maxTradeDurationDays: days(ceilDuration(maxOf(durations), resolution)),
    avgTradeDurationDays: days(ceilDuration(mean(durations), resolution)),
    profitFactor: finite(gains / (losses || NaN)),
    expectancyPct: finite(mean(returns) * 100),
    sqn: finite((Math.sqrt(count) * mean(profits)) / (profitDeviation || NaN)),
    kelly: finite(winRate - (1 - winRate) / (averageWin / averageLoss)),
  };
}
