/**
 * jobs: BullMQ throughput through the product's queue layer against raw BullMQ, on one Redis of
 * the bench's own, in the same run: no-op jobs added and then processed at concurrency 1 and 100.
 * Raw and product runs alternate in the order raw, product, product, raw, and so on, each in a
 * fresh process, and the figure of each side is the median of its rounds.
 * bench/realtime/scenarios/jobs-runner.ts describes exactly what each side does.
 */
import { fork } from "node:child_process";
import path from "node:path";

import { TestRedisServer } from "../../../test/support/redis-server";
import { round } from "../clock";
import { median } from "../median";
import { Requester, waitForEvent, type Endpoint } from "../ipc";
import { redisServerPid } from "../proc";
import type { CreateComparisonResult, JobsRunnerCommands, JobsRunResult } from "./jobs-runner";
import type { Scenario, ScenarioContext, ScenarioOutcome, SummaryRow, TargetCheck } from "./types";

const RUNNER_ENTRY = path.join(__dirname, "jobs-runner.js");
const MAX_OVERHEAD = 0.1;
const TARGET_JOBS_PER_SECOND = 4_100;

interface Settings {
  rounds: number;
  jobsAt: Record<number, number>;
}

function settingsFor(quick: boolean): Settings {
  return quick ? { rounds: 1, jobsAt: { 1: 500, 100: 2_000 } } : { rounds: 8, jobsAt: { 1: 3_000, 100: 20_000 } };
}

/** Runs `work` against a fresh jobs runner process. */
async function withRunner<T>(work: (runner: Requester<JobsRunnerCommands>) => Promise<T>): Promise<T> {
  const child = fork(RUNNER_ENTRY, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  try {
    await waitForEvent(child as Endpoint, "ready", 30_000, "jobs runner");
    const runner = new Requester<JobsRunnerCommands>(child, "jobs runner");
    const result = await work(runner);
    runner.dispose();
    return result;
  } finally {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    }
  }
}

interface Aggregate {
  mode: "raw" | "product";
  concurrency: number;
  jobs: number;
  addsPerSecond: number;
  processedPerSecond: number;
  workerCpuSecondsPerMillion: number;
  redisCpuSecondsPerMillion: number | null;
  rounds: JobsRunResult[];
}

function aggregate(results: JobsRunResult[]): Aggregate {
  const first = results[0] as JobsRunResult;
  const redis = results.flatMap((result) =>
    result.redisCpuSecondsPerMillion === null ? [] : [result.redisCpuSecondsPerMillion],
  );
  return {
    mode: first.mode,
    concurrency: first.concurrency,
    jobs: first.jobs,
    addsPerSecond: Math.round(median(results.map((result) => result.addsPerSecond))),
    processedPerSecond: Math.round(median(results.map((result) => result.processedPerSecond))),
    workerCpuSecondsPerMillion: round(median(results.map((result) => result.workerCpuSecondsPerMillion)), 2),
    redisCpuSecondsPerMillion: redis.length === 0 ? null : round(median(redis), 2),
    rounds: results,
  };
}

async function run(context: ScenarioContext): Promise<ScenarioOutcome> {
  const settings = settingsFor(context.quick);
  const redis = await TestRedisServer.start();
  const aggregates: Aggregate[] = [];
  let createComparison: CreateComparisonResult | undefined;
  try {
    const redisPid = redisServerPid(redis.port) ?? null;
    let runNumber = 0;
    for (const concurrency of [1, 100]) {
      const jobs = settings.jobsAt[concurrency] ?? 1_000;
      const byMode: Record<"raw" | "product", JobsRunResult[]> = { raw: [], product: [] };
      for (let roundIndex = 0; roundIndex < settings.rounds; roundIndex += 1) {
        // Every run leaves its completed jobs in Redis, so the order alternates (raw first, then
        // product first) for neither side to meet the larger Redis every time.
        const order = roundIndex % 2 === 0 ? (["raw", "product"] as const) : (["product", "raw"] as const);
        for (const mode of order) {
          runNumber += 1;
          const result = await withRunner((runner) =>
            runner.request(
              "run",
              { mode, concurrency, jobs, redisUrl: redis.url, redisPid, prefix: `bench-jobs-${runNumber}` },
              600_000,
            ),
          );
          byMode[mode].push(result);
          context.log(
            `jobs ${mode} at concurrency ${concurrency}: ${result.addsPerSecond} added/s, ${result.processedPerSecond} processed/s`,
          );
        }
      }
      aggregates.push(aggregate(byMode.raw), aggregate(byMode.product));
    }
    createComparison = await withRunner((runner) =>
      runner.request(
        "compareCreate",
        { creates: settings.jobsAt[100] ?? 1_000, redisUrl: redis.url, prefix: "bench-jobs-create" },
        600_000,
      ),
    );
    context.log(
      `jobs snapshot creation: ${createComparison.multiPerSecond}/s with MULTI (before), ${createComparison.storePerSecond}/s with the store's script (now)`,
    );
  } finally {
    await redis.dispose();
  }

  const summary: SummaryRow[] = aggregates.map((result) => ({
    setup: `${result.mode === "raw" ? "raw BullMQ" : "product queue layer"}, concurrency ${result.concurrency}`,
    throughput: `${result.processedPerSecond.toLocaleString("en-US")} processed/s, ${result.addsPerSecond.toLocaleString("en-US")} added/s`,
    p50Ms: null,
    p99Ms: null,
    maxMs: null,
    deliveredRatio: null,
    rssMiB: null,
    cpuSecondsPerMillion: result.workerCpuSecondsPerMillion,
  }));

  const targets: TargetCheck[] = [];
  for (const concurrency of [1, 100]) {
    const raw = aggregates.find((result) => result.mode === "raw" && result.concurrency === concurrency);
    const product = aggregates.find((result) => result.mode === "product" && result.concurrency === concurrency);
    if (raw === undefined || product === undefined) continue;
    const processOverhead = 1 - product.processedPerSecond / raw.processedPerSecond;
    const addOverhead = 1 - product.addsPerSecond / raw.addsPerSecond;
    targets.push({
      name: `jobs concurrency ${concurrency}: processing overhead against raw BullMQ`,
      target: `≤ ${MAX_OVERHEAD * 100} %`,
      measured: `${round(processOverhead * 100, 1)} % (${product.processedPerSecond.toLocaleString("en-US")} vs ${raw.processedPerSecond.toLocaleString("en-US")} jobs/s)`,
      met: processOverhead <= MAX_OVERHEAD,
    });
    targets.push({
      name: `jobs concurrency ${concurrency}: adding overhead against raw BullMQ`,
      target: `≤ ${MAX_OVERHEAD * 100} %`,
      measured: `${round(addOverhead * 100, 1)} % (${product.addsPerSecond.toLocaleString("en-US")} vs ${raw.addsPerSecond.toLocaleString("en-US")} jobs/s)`,
      met: addOverhead <= MAX_OVERHEAD,
    });
  }
  const best = aggregates.find((result) => result.mode === "product" && result.concurrency === 100);
  targets.push({
    name: "jobs: processed jobs per second through the product at concurrency 100",
    target: `≥ ${TARGET_JOBS_PER_SECOND.toLocaleString("en-US")}`,
    measured: `${(best?.processedPerSecond ?? 0).toLocaleString("en-US")} jobs/s`,
    met: (best?.processedPerSecond ?? 0) >= TARGET_JOBS_PER_SECOND,
  });

  return {
    settings: {
      rounds: settings.rounds,
      jobs: settings.jobsAt,
      addsInFlight: 100,
      redis: "own redis-server, no persistence",
    },
    figures: { results: aggregates, snapshotCreation: createComparison },
    summary,
    targets,
    notes: [],
  };
}

export const jobsScenario: Scenario = {
  name: "jobs",
  description: "no-op BullMQ jobs through the product's queue layer against raw BullMQ, concurrency 1 and 100",
  run,
};
