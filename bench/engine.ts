/**
 * Backtest engine benchmark (`npm run bench:engine`): bars per second of one backtest, bar ×
 * combination evaluations per second of a sweep on worker threads, the cost of progress and
 * cancellation checks, and the indicators against a library. Writes the raw figures to
 * bench/results/engine-<date>.json and prints a summary for docs/benchmarks.md.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { loadCandleCsv } from "../src/data/csv";
import { datasetDirectory } from "../src/data/datasets";
import { CHUNK_BARS } from "../src/engine";
import { measureCheckCost } from "./engine/check-cost";
import { benchmarkIndicators } from "./engine/indicators";
import { round } from "./engine/measure";
import { type Overhead, benchmarkSingleRun, singleRunInput } from "./engine/single-run";
import { benchmarkSweep } from "./engine/sweep";

const DATASET_ID = "btcusdt-1m-2024";
const DATASET_FILE = path.join(datasetDirectory(), "BTCUSDT-1m-2024.csv.gz");
const SINGLE_RUNS = 41;
const SINGLE_WARMUPS = 5;
const SWEEP_THREADS = 2;
const SWEEP_ROUNDS_PER_MODE = 4;
const SWEEP_GRID = { fast: { from: 5, to: 50, step: 5 }, slow: { from: 10, to: 200, step: 5 } };

async function main(): Promise<void> {
  const machine = {
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.availableParallelism(),
    memoryGiB: round(os.totalmem() / 2 ** 30, 3),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    loadAverageAtStart: os.loadavg().map((value) => round(value, 3)),
  };
  log(
    `machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, load ${machine.loadAverageAtStart.join(" ")}`,
  );

  const parseStarted = performance.now();
  const candles = await loadCandleCsv(DATASET_FILE);
  const parseMs = round(performance.now() - parseStarted);
  log(`parsed ${DATASET_ID}: ${candles.length} bars in ${parseMs} ms (excluded from every figure below)`);

  const single = await benchmarkSingleRun(singleRunInput(candles), SINGLE_RUNS, SINGLE_WARMUPS);
  log(
    `single backtest: ${formatRate(single.barsPerSecond.median)} bars/s median (${single.endToEnd.medianWallMs.toFixed(1)} ms), ` +
      `best ${formatRate(single.barsPerSecond.best)}, ${formatRate(single.barsPerSecond.perCpuSecond)} per CPU second, ` +
      `${single.trades} trades; checks overhead ${formatOverhead(single.progressAndCancellation.checksOverheadPct)}, ` +
      `against one synchronous call ${formatOverhead(single.progressAndCancellation.totalOverheadPct)}`,
  );

  const indicators = benchmarkIndicators(candles.close, 15, libraryVersion());
  for (const result of indicators.results) {
    log(
      `indicator ${result.indicator}: engine ${result.engineMs} ms, library ${result.libraryMs} ms (${result.faster} faster)`,
    );
  }

  const sweep = await benchmarkSweep({
    datasetFile: DATASET_FILE,
    strategy: "sma-cross",
    grid: SWEEP_GRID,
    broker: { cash: 10_000, fractional: true },
    threads: SWEEP_THREADS,
    roundsPerMode: SWEEP_ROUNDS_PER_MODE,
  });
  log(
    `sweep: ${sweep.combinations} combinations × ${sweep.bars} bars on ${sweep.threads} threads: ` +
      `${formatRate(sweep.evaluationsPerSecond["with-checks"])} evals/s with checks, ${formatRate(sweep.evaluationsPerSecond.bare)} bare ` +
      `(overhead ${sweep.checksOverheadPct.medianWall}% by wall time, ${sweep.checksOverheadPct.cpu}% by CPU time); per CPU second ${formatRate(sweep.evaluationsPerCpuSecond["with-checks"])} and ` +
      `${formatRate(sweep.evaluationsPerCpuSecond.bare)}`,
  );

  // The checks' own cost, as a share of the runs measured above.
  const checkCost = await measureCheckCost(2_000);
  const chunks = Math.ceil(candles.length / CHUNK_BARS);
  const sweepRoundMs = Math.min(...sweep.rounds["with-checks"]);
  const combinationsPerThread = sweep.combinations / sweep.threads;
  const yieldsPerThread = sweepRoundMs / 50;
  const checkShare = {
    singleRunPct: round(((chunks * checkCost.perChunkUs) / 1000 / single.endToEnd.bestWallMs) * 100, 3),
    sweepPct: round(
      ((combinationsPerThread * checkCost.perCombinationUs + yieldsPerThread * checkCost.perYieldUs) /
        1000 /
        sweepRoundMs) *
        100,
      3,
    ),
  };
  log(
    `check cost: ${checkCost.perChunkUs} µs per chunk (${chunks} chunks: ${checkShare.singleRunPct}% of the fastest run), ` +
      `${checkCost.perCombinationUs} µs per combination and ${checkCost.perYieldUs} µs per yield (${checkShare.sweepPct}% of the fastest sweep round)`,
  );

  const report = {
    date: new Date().toISOString(),
    command: "npm run bench:engine",
    machine: { ...machine, loadAverageAtEnd: os.loadavg().map((value) => round(value, 3)) },
    dataset: { id: DATASET_ID, bars: candles.length, parseMs },
    single,
    indicators,
    sweep,
    checkCost: { ...checkCost, chunksPerRun: chunks, ...checkShare },
  };
  const resultsDirectory = path.join(__dirname, "../../bench/results");
  mkdirSync(resultsDirectory, { recursive: true });
  const file = path.join(resultsDirectory, `engine-${report.date.slice(0, 10)}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  log(`wrote ${path.relative(process.cwd(), file)}`);
}

function formatOverhead(overhead: Overhead): string {
  return `${overhead.medianCpu}% by median CPU time (${overhead.medianWall}% median wall, ${overhead.bestWall}% best wall)`;
}

function formatRate(perSecond: number): string {
  return `${(perSecond / 1e6).toFixed(2)}M`;
}

function libraryVersion(): string {
  const manifest = path.join(__dirname, "../../node_modules/@ixjb94/indicators/package.json");
  return (JSON.parse(readFileSync(manifest, "utf8")) as { version: string }).version;
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `engine benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
