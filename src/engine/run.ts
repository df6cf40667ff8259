import { setImmediate as yieldToEventLoop } from "node:timers/promises";

import type { Candles } from "../data/candles";
import { type BrokerOptionsInput, resolveBrokerOptions } from "./broker-options";
import { EngineInputError } from "./errors";
import { IndicatorCache } from "./indicators/index";
import { type BacktestOutput, type FullEquityCurve, buildResult, equityCurveOf } from "./result";
import { Simulation } from "./simulation";
import { getStrategy } from "./strategies/registry";
import type { Strategy } from "./strategy";

export interface BacktestInput {
  candles: Candles;
  /** A registered strategy's name, such as `sma-cross`, or a strategy object that need not be registered. */
  strategy: string | Strategy<unknown>;
  /** Strategy parameters; missing ones take their defaults. */
  params: Record<string, unknown>;
  /** Broker options; missing or undefined fields take their defaults. */
  broker: BrokerOptionsInput;
}

export interface RunControl {
  /** Receives progress in bars, at most about every `PROGRESS_INTERVAL_MS`, and always once with processed === total. */
  onProgress?: (processed: number, total: number) => void;
  /** Polled between chunks; true stops the run. */
  isCancelled?: () => boolean;
  /** Caps the speed in bars per second of wall time, for demos and load tests. Default: no cap. */
  barsPerSecond?: number;
  /** Aborting it stops the run between chunks, or during a pacing pause. */
  signal?: AbortSignal;
}

export type RunOutcome = { status: "completed"; result: BacktestOutput } | { status: "cancelled"; processed: number };

/** Bars per chunk without pacing: large enough to keep the overhead of yielding small, small enough to notice cancellation quickly. */
export const CHUNK_BARS = 50_000;

/** Minimum time between two progress calls, in milliseconds. */
export const PROGRESS_INTERVAL_MS = 100;

/** Paced runs move in chunks of this fraction of a second, so progress advances smoothly. */
const PACED_CHUNK_SECONDS = 1 / 20;

/** A validated backtest, ready to run. */
export interface PreparedBacktest {
  simulation: Simulation;
  candles: Candles;
}

/**
 * Validates the strategy name, parameters and broker options without candles, so a server can
 * reject a request before queueing it. Throws `EngineInputError`.
 */
export function validateBacktestInput(input: Omit<BacktestInput, "candles">, bars?: number): void {
  resolveBrokerOptions(input.broker);
  resolveStrategy(input.strategy).parseParams(input.params, bars);
}

/** Validates the input and computes the strategy's indicators. Throws `EngineInputError`. */
export function prepareBacktest(input: BacktestInput): PreparedBacktest {
  const { candles } = input;
  if (candles.length < 2) {
    throw new EngineInputError("candles", `Invalid candles: a backtest needs at least 2 bars, got ${candles.length}`);
  }

  const broker = resolveBrokerOptions(input.broker);
  const strategy = resolveStrategy(input.strategy);
  const params = strategy.parseParams(input.params, candles.length);
  const instance = strategy.init(candles, params, new IndicatorCache(candles));
  return { simulation: new Simulation(candles, instance, broker), candles };
}

/** Runs a backtest to the end in one synchronous call, for scripts and benchmarks. */
export function runBacktestSync(input: BacktestInput): BacktestOutput {
  const { simulation, candles } = prepareBacktest(input);
  simulation.advance(simulation.total);
  return buildResult(candles, simulation.finish());
}

/**
 * Returns the equity and drawdown of every bar of a backtest, where the result keeps at most
 * `MAX_EQUITY_POINTS`. It runs the backtest again: a run is deterministic, so the same input
 * gives the same curve, and nothing per bar has to be stored. Throws `EngineInputError`.
 */
export function fullEquityCurve(input: BacktestInput): FullEquityCurve {
  const { simulation, candles } = prepareBacktest(input);
  simulation.advance(simulation.total);
  return equityCurveOf(candles, simulation.finish());
}

function resolveStrategy(strategy: string | Strategy<unknown>): Strategy<unknown> {
  return typeof strategy === "string" ? getStrategy(strategy) : strategy;
}

/**
 * Runs a backtest in chunks of bars, yielding to the event loop between chunks so that the
 * process stays responsive, and checking for cancellation there. With `barsPerSecond` it sleeps
 * between chunks so that the wall time matches the cap. Throws `EngineInputError` on bad input
 * before any bar runs.
 */
export async function runBacktest(input: BacktestInput, control: RunControl = {}): Promise<RunOutcome> {
  const barsPerSecond = control.barsPerSecond;
  if (barsPerSecond !== undefined && !(barsPerSecond > 0 && Number.isFinite(barsPerSecond))) {
    throw new EngineInputError(
      "barsPerSecond",
      `Invalid barsPerSecond ${String(barsPerSecond)}: expected a positive number, or leave it out for full speed`,
    );
  }
  const { simulation, candles } = prepareBacktest(input);
  const total = simulation.total;
  const chunk =
    barsPerSecond === undefined
      ? CHUNK_BARS
      : Math.min(CHUNK_BARS, Math.max(1, Math.floor(barsPerSecond * PACED_CHUNK_SECONDS)));
  const isCancelled = (): boolean => control.signal?.aborted === true || control.isCancelled?.() === true;
  const startedAt = performance.now();
  let lastProgressAt = -Infinity;

  while (!simulation.done) {
    if (isCancelled()) return { status: "cancelled", processed: simulation.processed };

    simulation.advance(simulation.processed + chunk);

    const now = performance.now();
    if (!simulation.done && now - lastProgressAt >= PROGRESS_INTERVAL_MS) {
      lastProgressAt = now;
      control.onProgress?.(simulation.processed, total);
    }

    // Pause until the wall time catches up with the cap, or just let other callbacks run.
    const dueAt = barsPerSecond === undefined ? 0 : startedAt + (simulation.processed / barsPerSecond) * 1000;
    if (dueAt > now) await sleep(dueAt - now, control.signal);
    else await yieldToEventLoop();
  }

  control.onProgress?.(total, total);
  return { status: "completed", result: buildResult(candles, simulation.finish()) };
}

/** Resolves after `ms`, or as soon as `signal` aborts. Never rejects. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
