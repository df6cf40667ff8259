/** Statistics of the closed trades, defined as backtesting.py 0.6.6 defines them. */
import { ceilDuration } from "./periods";
import { days, finite, geometricMean, mean, variance } from "./stats-math";
import type { TradeLog } from "./trade-log";

export interface TradeFigures {
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
}

/**
 * Computes the trade statistics: win rate counts PnL > 0, the average trade is the geometric mean
 * of the returns and the expectancy their arithmetic mean, the profit factor is Σ positive
 * returns / |Σ negative returns|, SQN = √n × mean(PnL) / std(PnL, ddof 1) and Kelly = W - (1 - W)
 * / (mean win / mean |loss|). Durations are calendar time rounded up to `resolutionMs`.
 */
export function tradeStats(time: Float64Array, trades: TradeLog, resolutionMs: number): TradeFigures {
  const count = trades.length;
  const profits = new Float64Array(count);
  const returns = new Float64Array(count);
  let wins = 0;
  let gains = 0;
  let losses = 0;
  let winProfit = 0;
  let lossProfit = 0;
  let lossCount = 0;
  let best = -Infinity;
  let worst = Infinity;
  let durationSum = 0;
  let maxDuration = -Infinity;

  for (let k = 0; k < count; k++) {
    const profit = trades.profitOf(k);
    const value = trades.returnOf(k);
    profits[k] = profit;
    returns[k] = value;
    if (profit > 0) {
      wins++;
      winProfit += profit;
    } else if (profit < 0) {
      lossCount++;
      lossProfit += profit;
    }
    if (value > 0) gains += value;
    else if (value < 0) losses += value;
    if (value > best) best = value;
    if (value < worst) worst = value;

    const duration = (time[trades.exitBar[k] as number] as number) - (time[trades.entryBar[k] as number] as number);
    durationSum += duration;
    if (duration > maxDuration) maxDuration = duration;
  }

  const winRate = count === 0 ? NaN : wins / count;
  const averageWin = wins === 0 ? NaN : winProfit / wins;
  const averageLoss = lossCount === 0 ? NaN : -(lossProfit / lossCount);
  const profitDeviation = Math.sqrt(variance(profits));
  const averageDuration = count === 0 ? NaN : durationSum / count;

  return {
    trades: count,
    winRatePct: finite(winRate * 100),
    bestTradePct: finite(best * 100),
    worstTradePct: finite(worst * 100),
    avgTradePct: finite(geometricMean(returns) * 100),
    maxTradeDurationDays: days(ceilDuration(maxDuration, resolutionMs)),
    avgTradeDurationDays: days(ceilDuration(averageDuration, resolutionMs)),
    profitFactor: finite(gains / (Math.abs(losses) || NaN)),
    expectancyPct: finite(mean(returns) * 100),
    sqn: finite((Math.sqrt(count) * mean(profits)) / (profitDeviation || NaN)),
    kelly: finite(winRate - (1 - winRate) / (averageWin / averageLoss)),
  };
}
