import { setImmediate as yieldToEventLoop } from "node:timers/promises";

import type { Candles } from "../data/candles";
import { type BrokerOptions, type BrokerOptionsInput, resolveBrokerOptions } from "./broker-options";
import { EngineInputError } from "./errors";
import { IndicatorCache } from "./indicators/index";
import { PROGRESS_INTERVAL_MS } from "./run";
import { Simulation } from "./simulation";
import { type EngineStats, type NumericStat, computeStats } from "./stats";
import { getStrategy } from "./strategies/registry";
import type { Strategy } from "./strategy";
import { TradeLog } from "./trade-log";

export interface SweepOptions {
  /** Statistic to sort the results by. Default: none, results stay in `paramsList` order. */
  rankBy?: NumericStat;
  /** Sort direction of `rankBy`; null values always come last. Default "desc" (highest first). */
  order?: "desc" | "asc";
  /** Keep only this many results after sorting. Default: all. */
  top?: number;
  /** Receives the combinations evaluated so far, at most every `PROGRESS_INTERVAL_MS`, and always once at the end. */
  onProgress?: (evaluated: number, total: number) => void;
  /** Polled between combinations; true stops the sweep. */
  isCancelled?: () => boolean;
  /** Aborting it stops the sweep between combinations. */
  signal?: AbortSignal;
  /** Time in ms the sweep may compute before it yields to the event loop, so timers and I/O run. Default 50. */
  yieldEveryMs?: number;
  /** Indicator cache to use, for example one shared by several chunks over the same candles. Default: a new one. */
  indicators?: IndicatorCache;
}

/** The statistics of one parameter combination. */
export interface CombinationResult {
  /** Position of the combination in `paramsList`. */
  index: number;
  /** The combination as given, before defaults. */
  params: Readonly<Record<string, unknown>>;
  stats: EngineStats;
}

export type SweepOutcome =
  | { status: "completed"; evaluated: number; results: CombinationResult[] }
  /** `results` contains the combinations evaluated before the cancellation, ranked the same way. */
  | { status: "cancelled"; evaluated: number; results: CombinationResult[] };

const DEFAULT_YIELD_EVERY_MS = 50;

/**
 * Runs one backtest per parameter combination over the same candles and returns the full
 * statistics of each (no trade list and no equity curve), for a sweep job to merge across its
 * chunks. Indicators are shared across combinations through one `IndicatorCache`, and the equity
 * and trade buffers are reused, so a combination costs its bar loop and its statistics.
 *
 * Every combination and the broker options are validated before the first one runs: an invalid
 * one throws `EngineInputError` with the field `paramsList[<k>].<param>`. Between combinations it
 * checks for cancellation, reports progress and, every `yieldEveryMs`, yields to the event loop.
 */
export async function evaluateCombinations(
  candles: Candles,
  strategy: string | Strategy<unknown>,
  paramsList: readonly Readonly<Record<string, unknown>>[],
  broker: BrokerOptionsInput,
  options: SweepOptions = {},
): Promise<SweepOutcome> {
  const evaluator = createCombinationEvaluator(candles, strategy, broker, options.indicators);
  const parsed = paramsList.map((params, index) => evaluator.parse(params, index));
  const total = parsed.length;
  const yieldEveryMs = options.yieldEveryMs ?? DEFAULT_YIELD_EVERY_MS;
  const isCancelled = (): boolean => options.signal?.aborted === true || options.isCancelled?.() === true;

  const results: CombinationResult[] = [];
  let lastProgressAt = performance.now();
  let lastYieldAt = lastProgressAt;
  for (let index = 0; index < total; index++) {
    if (isCancelled()) {
      return { status: "cancelled", evaluated: index, results: rank(results, options) };
    }

    results.push({
      index,
      params: paramsList[index] as Record<string, unknown>,
      stats: evaluator.evaluate(parsed[index]),
    });

    const now = performance.now();
    if (options.onProgress !== undefined && now - lastProgressAt >= PROGRESS_INTERVAL_MS && index + 1 < total) {
      lastProgressAt = now;
      options.onProgress(index + 1, total);
    }
    if (now - lastYieldAt >= yieldEveryMs) {
      await yieldToEventLoop();
      lastYieldAt = performance.now();
    }
  }

  options.onProgress?.(total, total);
  return { status: "completed", evaluated: total, results: rank(results, options) };
}

/** Evaluates combinations one at a time, synchronously, reusing one set of buffers. */
export interface CombinationEvaluator {
  /** Validates one combination; throws `EngineInputError` on `paramsList[<index>].<param>`. */
  parse(params: Readonly<Record<string, unknown>>, index: number): unknown;
  /** Runs the backtest of combination parsed by `parse` and returns its statistics. */
  evaluate(parsed: unknown): EngineStats;
}

/**
 * Creates the synchronous evaluator behind `evaluateCombinations`, for callers that schedule the
 * combinations themselves, such as a benchmark or a worker that checks a shared cancellation flag.
 */
export function createCombinationEvaluator(
  candles: Candles,
  strategyOrName: string | Strategy<unknown>,
  brokerInput: BrokerOptionsInput,
  indicators: IndicatorCache = new IndicatorCache(candles),
): CombinationEvaluator {
  if (candles.length < 2) {
    throw new EngineInputError("candles", `Invalid candles: a backtest needs at least 2 bars, got ${candles.length}`);
  }
  if (indicators.candles !== candles) {
    throw new RangeError("The indicator cache belongs to other candles: create one per candle series");
  }
  const strategy = typeof strategyOrName === "string" ? getStrategy(strategyOrName) : strategyOrName;
  const broker: BrokerOptions = resolveBrokerOptions(brokerInput);
  const equity = new Float64Array(candles.length);
  const trades = new TradeLog();

  return {
    parse(params, index) {
      try {
        return strategy.parseParams(params, candles.length);
      } catch (error) {
        if (!(error instanceof EngineInputError)) throw error;
        const param = error.field.startsWith("params.") ? error.field.slice("params.".length) : "";
        const field = param === "" ? `paramsList[${index}]` : `paramsList[${index}].${param}`;
        throw new EngineInputError(field, `Combination ${index}: ${error.message}`);
      }
    },

    evaluate(parsed) {
      const simulation = new Simulation(candles, strategy.init(candles, parsed, indicators), broker, {
        equity,
        trades,
      });
      simulation.advance(simulation.total);
      return computeStats(candles, simulation.finish());
    },
  };
}

/** Sorts by `rankBy` (nulls last, ties in input order) and keeps the `top` results. */
function rank(results: CombinationResult[], options: SweepOptions): CombinationResult[] {
  const key = options.rankBy;
  if (key !== undefined) {
    const sign = options.order === "asc" ? 1 : -1;
    results.sort((a, b) => {
      const x = a.stats[key];
      const y = b.stats[key];
      if (x === null && y === null) return a.index - b.index;
      if (x === null) return 1;
      if (y === null) return -1;
      return sign * (x - y) || a.index - b.index;
    });
  }
  return options.top === undefined ? results : results.slice(0, Math.max(0, options.top));
}
