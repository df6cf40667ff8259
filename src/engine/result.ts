import { type Candles, isoTime } from "../data/candles";
import type { SimulationOutput } from "./backtest";
import { type EngineStats, computeStats, tradeProfit, tradeReturn } from "./stats";

/** The largest number of points in `BacktestOutput.equity`. */
export const MAX_EQUITY_POINTS = 2_000;

export interface TradeRecord {
  entryBar: number;
  exitBar: number;
  /** Open time of the entry bar, ISO 8601 UTC. */
  entryTime: string;
  /** Open time of the exit bar, ISO 8601 UTC. */
  exitTime: string;
  entryPrice: number;
  exitPrice: number;
  /** Signed units: positive long, negative short. */
  size: number;
  /** Profit or loss in cash, net of fees. */
  pnl: number;
  /** Return as a fraction (0.05 is 5%), net of fees, as backtesting.py's `ReturnPct`. */
  returnPct: number;
}

/** The equity curve at no more than `MAX_EQUITY_POINTS` bars, picked by `downsampleIndices`. */
export interface EquityCurve {
  /** Bar open times, ISO 8601 UTC. */
  time: string[];
  equity: number[];
  /** Drawdown below the running peak in percent, 0 or negative. */
  drawdownPct: number[];
}

/** A completed backtest, safe to send as JSON. */
export interface BacktestOutput {
  stats: EngineStats;
  trades: TradeRecord[];
  equity: EquityCurve;
}

/** Assembles the statistics, trade list and equity curve of a finished simulation. */
export function buildResult(candles: Candles, output: SimulationOutput): BacktestOutput {
  const { stats, drawdown } = computeStats(candles, output);

  const trades = output.trades.map((trade): TradeRecord => ({
    entryBar: trade.entryBar,
    exitBar: trade.exitBar,
    entryTime: isoTime(candles.time[trade.entryBar] as number),
    exitTime: isoTime(candles.time[trade.exitBar] as number),
    entryPrice: trade.entryPrice,
    exitPrice: trade.exitPrice,
    size: trade.size,
    pnl: tradeProfit(trade),
    returnPct: tradeReturn(trade),
  }));

  const indices = downsampleIndices(output.equity, MAX_EQUITY_POINTS);
  const equity: EquityCurve = {
    time: indices.map((i) => isoTime(candles.time[i] as number)),
    equity: indices.map((i) => output.equity[i] as number),
    // `|| 0` turns -0 (no drawdown) into 0.
    drawdownPct: indices.map((i) => -(drawdown[i] as number) * 100 || 0),
  };
  return { stats, trades, equity };
}

/**
 * Picks at most `maxPoints` bar indices that keep the curve's shape. They are the first and last
 * bars plus, in each of (maxPoints - 2) / 2 equal buckets in between, the bars with the lowest
 * and the highest value, in time order, so peaks and troughs of the equity survive. The drawdown is read
 * at the same bars, so its deepest point can fall between two kept bars (the statistics use every
 * bar). A series that fits is returned whole.
 */
export function downsampleIndices(values: Float64Array, maxPoints: number): number[] {
  const n = values.length;
  if (n <= maxPoints) return Array.from({ length: n }, (_, i) => i);

  const indices: number[] = [0];
  const buckets = Math.floor((maxPoints - 2) / 2);
  const inner = n - 2;
  for (let bucket = 0; bucket < buckets; bucket++) {
    const from = 1 + Math.floor((bucket * inner) / buckets);
    const to = 1 + Math.floor(((bucket + 1) * inner) / buckets);
    let low = from;
    let high = from;
    for (let i = from + 1; i < to; i++) {
      if ((values[i] as number) < (values[low] as number)) low = i;
      if ((values[i] as number) > (values[high] as number)) high = i;
    }
    if (low === high) indices.push(low);
    else indices.push(Math.min(low, high), Math.max(low, high));
  }
  indices.push(n - 1);
  return indices;
}
