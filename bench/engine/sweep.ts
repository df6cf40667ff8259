/** Benchmark of a parameter sweep split over worker threads: bar × combination evaluations per second. */
import path from "node:path";
import { Worker } from "node:worker_threads";

import { type ParamRange, expandParamGrid, getStrategy } from "../../src/engine";
import { median, round } from "./measure";
import type { FromSweepWorker, SweepMode, SweepWorkerData, ToSweepWorker } from "./sweep-messages";

export interface SweepReport {
  strategy: string;
  grid: Record<string, ParamRange>;
  broker: Record<string, unknown>;
  threads: number;
  bars: number;
  combinations: number;
  skippedCombinations: number;
  /** Bars × combinations of one round. */
  evaluationsPerRound: number;
  /** Wall time of each round, in ms. */
  rounds: Record<SweepMode, number[]>;
  /** Bar × combination evaluations per second of wall time, median over the rounds of each mode. */
  evaluationsPerSecond: Record<SweepMode, number>;
  /**
   * Evaluations per second of thread CPU time, summed over the threads, median over the rounds:
   * the rate the threads reached while they ran, whatever else the machine was doing.
   */
  evaluationsPerCpuSecond: Record<SweepMode, number>;
  /**
   * How much slower "with-checks" (progress messages, cancellation checks, yields) is than
   * "bare", in percent, by median wall time and by evaluations per CPU second.
   */
  checksOverheadPct: { medianWall: number; cpu: number };
  parseMsPerThread: number[];
}

interface SweepSettings {
  datasetFile: string;
  strategy: string;
  grid: Record<string, ParamRange>;
  broker: Record<string, unknown>;
  threads: number;
  /** Rounds of each mode, run alternately. */
  roundsPerMode: number;
}

/** Splits the grid over `threads` worker threads, each with its own copy of the dataset, and times whole rounds. */
export async function benchmarkSweep(settings: SweepSettings): Promise<SweepReport> {
  const workerData: SweepWorkerData = {
    datasetFile: settings.datasetFile,
    strategy: settings.strategy,
    broker: settings.broker,
  };
  const workers = Array.from(
    { length: settings.threads },
    () => new Worker(path.join(__dirname, "sweep-worker.js"), { workerData }),
  );
  const ready = await Promise.all(workers.map((worker) => nextMessage(worker, "ready")));
  const bars = ready[0]?.bars ?? 0;

  const grid = expandParamGrid(getStrategy(settings.strategy), settings.grid, { bars });
  // Dealt round-robin, so that each thread gets fast and slow periods alike.
  const shares = workers.map((_, k) => grid.combinations.filter((_, index) => index % settings.threads === k));

  const rounds: Record<SweepMode, number[]> = { "with-checks": [], bare: [] };
  const cpuRates: Record<SweepMode, number[]> = { "with-checks": [], bare: [] };
  try {
    for (let round = 0; round < settings.roundsPerMode * 2; round++) {
      const mode: SweepMode = round % 2 === 0 ? "bare" : "with-checks";
      const started = performance.now();
      const done = await Promise.all(
        workers.map((worker, k) => {
          const finished = nextMessage(worker, "done");
          const message: ToSweepWorker = { type: "run", round, mode, combinations: shares[k] ?? [] };
          worker.postMessage(message);
          return finished;
        }),
      );
      rounds[mode].push(performance.now() - started);
      // Each thread's own rate, added up: evaluations it did per second it spent on a CPU.
      cpuRates[mode].push(done.reduce((sum, message) => sum + (message.evaluated * bars) / (message.cpuMs / 1000), 0));
    }
  } finally {
    for (const worker of workers) worker.postMessage({ type: "exit" } satisfies ToSweepWorker);
    await Promise.all(workers.map((worker) => new Promise((resolve) => worker.once("exit", resolve))));
  }

  const evaluationsPerRound = bars * grid.combinations.length;
  const rate = (mode: SweepMode): number => round(evaluationsPerRound / (median(rounds[mode]) / 1000));
  return {
    strategy: settings.strategy,
    grid: settings.grid,
    broker: settings.broker,
    threads: settings.threads,
    bars,
    combinations: grid.combinations.length,
    skippedCombinations: grid.skipped,
    evaluationsPerRound,
    rounds: { "with-checks": rounds["with-checks"].map((ms) => round(ms)), bare: rounds.bare.map((ms) => round(ms)) },
    evaluationsPerSecond: { "with-checks": rate("with-checks"), bare: rate("bare") },
    evaluationsPerCpuSecond: {
      "with-checks": round(median(cpuRates["with-checks"])),
      bare: round(median(cpuRates.bare)),
    },
    checksOverheadPct: {
      medianWall: round((median(rounds["with-checks"]) / median(rounds.bare) - 1) * 100, 3),
      cpu: round((median(cpuRates.bare) / median(cpuRates["with-checks"]) - 1) * 100, 3),
    },
    parseMsPerThread: ready.map((message) => round(message.parseMs)),
  };
}

/** Resolves with the next message of `type` from the worker, skipping progress messages; rejects if the worker fails. */
function nextMessage<T extends FromSweepWorker["type"]>(
  worker: Worker,
  type: T,
): Promise<Extract<FromSweepWorker, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: FromSweepWorker): void => {
      if (message.type !== type) return;
      cleanup();
      resolve(message as Extract<FromSweepWorker, { type: T }>);
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const cleanup = (): void => {
      worker.off("message", onMessage);
      worker.off("error", onError);
    };
    worker.on("message", onMessage);
    worker.on("error", onError);
  });
}
