import { type Candles, isoTime } from "../data/candles";
import { candleCalendar } from "./candle-calendar";
import { cagr, coveredShare, periodReturns, scanEquity } from "./equity-stats";
import { MS_PER_DAY, ceilDuration } from "./periods";
import type { SimulationOutput } from "./simulation";
import { days, finite } from "./stats-math";
import { tradeStats } from "./trade-stats";

/**
 * backtesting.py 0.6.6's statistics under camelCase names, percentages in percent and durations in
 * days. Drawdowns are negative percentages, as backtesting.py reports them. A value that is not
 * defined (no trades, no losing trade, a zero denominator) is null. docs/engine.md defines each.
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

/** The numeric statistics, which a sweep can rank by. */
export type NumericStat = {
  [K in keyof EngineStats]-?: EngineStats[K] extends string ? never : K;
}[keyof EngineStats];

/** Computes the statistics of a finished simulation over its candles. */
export function computeStats(candles: Candles, output: SimulationOutput): EngineStats {
  const { time, close } = candles;
  const { equity, trades, warmup } = output;
  const n = candles.length;
  const first = time[0] as number;
  const last = time[n - 1] as number;
  const calendar = candleCalendar(candles);

  const scan = scanEquity(time, equity, calendar);
  const returns = periodReturns(equity, calendar);
  const tradeFigures = tradeStats(time, trades, calendar.resolutionMs);

  const equityFinal = equity[n - 1] as number;
  const equityStart = equity[0] as number;
  const returnPct = ((equityFinal - equityStart) / equityStart) * 100;
  const buyHoldStart = close[warmup] as number;
  const buyHoldReturnPct = (((close[n - 1] as number) - buyHoldStart) / buyHoldStart) * 100;
  const durationMs = last - first;
  let commissions = 0;
  for (let k = 0; k < trades.length; k++) commissions += trades.fees[k] as number;

  return {
    start: isoTime(first),
    end: isoTime(last),
    durationDays: durationMs / MS_PER_DAY,
    exposurePct: finite(coveredShare(n, trades.entryBar, trades.exitBar, trades.length) * 100),
    equityFinal: finite(equityFinal),
    equityPeak: finite(scan.equityPeak),
    commissions: finite(commissions),
    returnPct: finite(returnPct),
    buyHoldReturnPct: finite(buyHoldReturnPct),
    returnAnnPct: finite(returns.annualReturn * 100),
    volatilityAnnPct: finite(returns.annualVolatility * 100),
    cagrPct: finite(cagr(equityStart, equityFinal, durationMs) * 100),
    sharpe: finite((returns.annualReturn * 100) / (returns.annualVolatility * 100 || NaN)),
    sortino: finite(returns.annualReturn / (returns.downsideDeviation * Math.sqrt(returns.perYear))),
    calmar: finite(returns.annualReturn / (scan.maxDrawdown || NaN)),
    alphaPct: finite(returnPct - scan.beta * buyHoldReturnPct),
    beta: finite(scan.beta),
    maxDrawdownPct: finite(-scan.maxDrawdown * 100),
    avgDrawdownPct: finite(-scan.avgDrawdown * 100),
    maxDrawdownDurationDays: days(ceilDuration(scan.maxDrawdownDurationMs, calendar.resolutionMs)),
    avgDrawdownDurationDays: days(ceilDuration(scan.avgDrawdownDurationMs, calendar.resolutionMs)),
    ...tradeFigures,
  };
}
