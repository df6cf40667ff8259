/** Benchmark of one backtest: bars per second end to end, its phases, and the cost of progress and cancellation checks. */
import type { Candles } from "../../src/data/candles";
import { type BacktestInput, buildResult, prepareBacktest, runBacktest, runBacktestSync } from "../../src/engine";
import { type Timing, type TimingSummary, median, round, summarize, time, timeAsync } from "./measure";

/**
 * An overhead in percent, measured three ways. On a machine shared with other work the median
 * wall time swings by several percent from run to run; the thread's CPU time leaves out the time
 * spent waiting for a core.
 */
export interface Overhead {
  medianWall: number;
  bestWall: number;
  medianCpu: number;
}

export interface SingleRunReport {
  input: { strategy: string; params: Record<string, unknown>; broker: Record<string, unknown> };
  bars: number;
  trades: number;
  /** The first run in this process, before the JIT has optimised anything. */
  coldWallMs: number;
  endToEnd: TimingSummary;
  barsPerSecond: { median: number; best: number; perCpuSecond: number };
  /** Median wall time of each phase over the same runs, in ms. */
  phasesMs: { indicators: number; barLoop: number; finish: number; statsAndResult: number };
  /**
   * The cost of progress and cancellation checks: runBacktest (chunks of bars with a yield to the
   * event loop between them) with `onProgress` and `isCancelled`, against the same without them,
   * and against one synchronous runBacktestSync call.
   */
  progressAndCancellation: {
    withChecks: TimingSummary;
    chunkedWithoutChecks: TimingSummary;
    synchronous: TimingSummary;
    /** withChecks against chunkedWithoutChecks (the checks alone), by median wall time, best wall time and median CPU time. */
    checksOverheadPct: Overhead;
    /** withChecks against synchronous (checks, chunking and yields together), measured the same three ways. */
    totalOverheadPct: Overhead;
  };
}

/** Measures the backtest of `input` over its candles `runs` times after `warmups` unmeasured runs. */
export async function benchmarkSingleRun(
  input: BacktestInput,
  runs: number,
  warmups: number,
): Promise<SingleRunReport> {
  const bars = input.candles.length;
  let trades = 0;
  const cold = time(() => {
    trades = runBacktestSync(input).stats.trades;
  });
  for (let k = 0; k < warmups; k++) runBacktestSync(input);

  // End to end, phase by phase, with the steps of runBacktestSync.
  const totals: Timing[] = [];
  const phases = {
    indicators: [] as number[],
    barLoop: [] as number[],
    finish: [] as number[],
    statsAndResult: [] as number[],
  };
  for (let k = 0; k < runs; k++) {
    totals.push(time(() => runPhases(input, phases)));
  }
  const endToEnd = summarize(totals);

  // Interleaved in a rotating order, so that a change in machine load hits every variant alike.
  const variants: Array<[Timing[], () => Promise<Timing>]> = [
    [[], () => timeAsync(() => runBacktest(input, { onProgress: () => undefined, isCancelled: () => false }))],
    [[], () => timeAsync(() => runBacktest(input))],
    [[], () => Promise.resolve(time(() => runBacktestSync(input)))],
  ];
  for (let k = 0; k < runs; k++) {
    for (let v = 0; v < variants.length; v++) {
      const [timings, measure] = variants[(k + v) % variants.length] as [Timing[], () => Promise<Timing>];
      timings.push(await measure());
    }
  }
  const [withChecks, chunked, synchronous] = variants.map(([timings]) => summarize(timings)) as [
    TimingSummary,
    TimingSummary,
    TimingSummary,
  ];
  const percent = (a: number, b: number): number => round((a / b - 1) * 100, 3);
  const overhead = (a: TimingSummary, b: TimingSummary): Overhead => ({
    medianWall: percent(a.medianWallMs, b.medianWallMs),
    bestWall: percent(a.bestWallMs, b.bestWallMs),
    medianCpu: percent(a.medianCpuMs, b.medianCpuMs),
  });

  return {
    input: {
      strategy: typeof input.strategy === "string" ? input.strategy : input.strategy.name,
      params: input.params,
      broker: { ...input.broker },
    },
    bars,
    trades,
    coldWallMs: round(cold.wallMs),
    endToEnd,
    barsPerSecond: {
      median: round(bars / (endToEnd.medianWallMs / 1000)),
      best: round(bars / (endToEnd.bestWallMs / 1000)),
      perCpuSecond: round(bars / (endToEnd.medianCpuMs / 1000)),
    },
    phasesMs: {
      indicators: round(median(phases.indicators)),
      barLoop: round(median(phases.barLoop)),
      finish: round(median(phases.finish)),
      statsAndResult: round(median(phases.statsAndResult)),
    },
    progressAndCancellation: {
      withChecks,
      chunkedWithoutChecks: chunked,
      synchronous,
      checksOverheadPct: overhead(withChecks, chunked),
      totalOverheadPct: overhead(withChecks, synchronous),
    },
  };
}

function runPhases(
  input: BacktestInput,
  phases: Record<"indicators" | "barLoop" | "finish" | "statsAndResult", number[]>,
): void {
  let started = performance.now();
  const { simulation, candles } = prepareBacktest(input);
  phases.indicators.push(lap());

  simulation.advance(simulation.total);
  phases.barLoop.push(lap());

  const output = simulation.finish();
  phases.finish.push(lap());

  buildResult(candles, output);
  phases.statsAndResult.push(lap());

  function lap(): number {
    const now = performance.now();
    const elapsed = now - started;
    started = now;
    return elapsed;
  }
}

/** Returns the input of the single-run benchmark: sma-cross 10/30, with fractional units so that 10,000 of cash can buy BTC. */
export function singleRunInput(candles: Candles): BacktestInput {
  return { candles, strategy: "sma-cross", params: { fast: 10, slow: 30 }, broker: { cash: 10_000, fractional: true } };
}
