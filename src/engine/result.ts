import type { Candles } from "../data/candles";
import { formatIsoTime } from "./iso-time";
import type { SimulationOutput } from "./simulation";
import { type EngineStats, computeStats } from "./stats";

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

/** A trade still open after the last bar, when `closeAtEnd` is false. */
export interface OpenTradeRecord {
  entryBar: number;
  /** Open time of the entry bar, ISO 8601 UTC. */
  entryTime: string;
  entryPrice: number;
  /** Signed units: positive long, negative short. */
  size: number;
  /** Profit or loss marked to the last close, before exit fees. */
  openPnl: number;
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
  /** Closed trades in closing order. */
  trades: TradeRecord[];
  /** Trades left open at the end; always empty with `closeAtEnd`. */
  openTrades: OpenTradeRecord[];
  equity: EquityCurve;
}

/** The whole equity curve, one value per bar, as `fullEquityCurve` returns it. */
export interface FullEquityCurve {
  /** Bar open times in epoch milliseconds, UTC. */
  time: Float64Array;
  equity: Float64Array;
  /** Drawdown below the running peak in percent, 0 or negative. */
  drawdownPct: Float64Array;
}

/** Assembles the statistics, trade lists and downsampled equity curve of a finished simulation. */
export function buildResult(candles: Candles, output: SimulationOutput): BacktestOutput {
  const stats = computeStats(candles, output);
  const { time, close } = candles;

  const log = output.trades;
  const trades: TradeRecord[] = [];
  for (let k = 0; k < log.length; k++) {
    const entryBar = log.entryBar[k] as number;
    const exitBar = log.exitBar[k] as number;
    trades.push({
      entryBar,
      exitBar,
      entryTime: formatIsoTime(time[entryBar] as number),
      exitTime: formatIsoTime(time[exitBar] as number),
      entryPrice: log.entryPrice[k] as number,
      exitPrice: log.exitPrice[k] as number,
      size: log.size[k] as number,
      pnl: log.profitOf(k),
      returnPct: log.returnOf(k),
    });
  }

  const lastClose = close[candles.length - 1] as number;
  const openTrades = output.openTrades.map((trade) => ({
    entryBar: trade.entryBar,
    entryTime: formatIsoTime(time[trade.entryBar] as number),
    entryPrice: trade.entryPrice,
    size: trade.size,
    openPnl: trade.size * (lastClose - trade.entryPrice),
  }));

  return { stats, trades, openTrades, equity: downsampledCurve(time, output.equity) };
}

/** Builds the equity curve at the bars that `downsampleIndices` picks, with the drawdown at those bars. */
function downsampledCurve(time: Float64Array, values: Float64Array): EquityCurve {
  const indices = downsampleIndices(values, MAX_EQUITY_POINTS);
  const drawdownPct: number[] = [];
  let peak = -Infinity;
  let bar = 0;
  for (const index of indices) {
    for (; bar <= index; bar++) if ((values[bar] as number) > peak) peak = values[bar] as number;
    drawdownPct.push(toDrawdownPct(1 - (values[index] as number) / peak));
  }
  return {
    time: indices.map((i) => formatIsoTime(time[i] as number)),
    equity: indices.map((i) => values[i] as number),
    drawdownPct,
  };
}

/** The full equity curve of a finished simulation, every bar kept, with the drawdown as `computeStats` computes it. */
export function equityCurveOf(candles: Candles, output: SimulationOutput): FullEquityCurve {
  const equity = output.equity;
  const drawdownPct = new Float64Array(equity.length);
  let peak = -Infinity;
  for (let i = 0; i < equity.length; i++) {
    const value = equity[i] as number;
    if (value > peak) peak = value;
    drawdownPct[i] = toDrawdownPct(1 - value / peak);
  }
  return { time: candles.time, equity, drawdownPct };
}

/** A drawdown fraction as a percentage of 0 or less; `|| 0` turns -0 (no drawdown) into 0. */
function toDrawdownPct(drawdown: number): number {
  return -drawdown * 100 || 0;
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
