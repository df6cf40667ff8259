/**
 * Entry of one jobs measurement, forked by the coordinator so that every run starts in a fresh
 * process: it adds no-op jobs, then starts a BullMQ Worker and times until all are processed.
 *
 * - raw: BullMQ's Queue.add and a Worker whose processor returns at once, with the queue and job
 *   options the product uses (a random jobId, removeOnComplete and removeOnFail by age, the
 *   events stream's length).
 * - product: `RedisBacktestJobs.submit` (Queue.add behind the API's Redis timeout), and a Worker
 *   built as workers/main.ts builds it. It runs the product's `createBacktestProcessor`, with only
 *   the engine call `executeBacktest` replaced by a stub that completes at once with an empty
 *   result. Each job therefore still starts and clears the cancel poll, and returns its
 *   completion (seq, total and result) for BullMQ to store and append to the events stream.
 */
import { randomUUID } from "node:crypto";

import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import pino from "pino";

import { parseBacktestRequest, type BacktestRequest } from "../../../src/queues/backtest-request";
import { BACKTEST_QUEUE, BACKTEST_QUEUE_STREAMS, MAX_STALLED_COUNT } from "../../../src/queues/backtest-queue";
import { RedisBacktestJobs } from "../../../src/queues/redis-backtest-jobs";
import { RedisSnapshotStore } from "../../../src/queues/redis-snapshot-store";
import { createProducerConnection, createWorkerConnection } from "../../../src/redis/clients";
import { parseRedisUrl } from "../../../src/config/redis-url";
import { createBacktestProcessor } from "../../../workers/backtest-processor";
import * as execution from "../../../workers/execute-backtest";
import { monotonicMs, round, sleep } from "../clock";
import { parentEndpoint, sendEvent, serveCommands } from "../ipc";
import { sampleProcess } from "../proc";

export interface JobsRunArgs {
  mode: "raw" | "product";
  concurrency: number;
  jobs: number;
  redisUrl: string;
  redisPid: number | null;
  /** Key prefix of this run, so that runs never see each other's jobs. */
  prefix: string;
}

export interface JobsRunResult {
  mode: "raw" | "product";
  concurrency: number;
  jobs: number;
  addsPerSecond: number;
  processedPerSecond: number;
  /** CPU seconds of the process running the Worker, per million jobs processed. */
  workerCpuSecondsPerMillion: number;
  /** CPU seconds of redis-server while the jobs were processed, per million jobs. */
  redisCpuSecondsPerMillion: number | null;
}

export interface CreateComparisonArgs {
  creates: number;
  redisUrl: string;
  prefix: string;
}

/** Snapshot creations per second on a producer connection that a BullMQ Queue shares. */
export interface CreateComparisonResult {
  creates: number;
  /** HSET and EXPIRE in a MULTI, as RedisSnapshotStore.create did before it used a script. */
  multiPerSecond: number;
  /** RedisSnapshotStore.create as it is now. */
  storePerSecond: number;
}

export interface JobsRunnerCommands {
  run: { args: JobsRunArgs; result: JobsRunResult };
  compareCreate: { args: CreateComparisonArgs; result: CreateComparisonResult };
}

/** Jobs added at once while filling the queue, like concurrent API requests. */
const ADDS_IN_FLIGHT = 100;
/** The product's defaults (LOCK_DURATION_MS, STALLED_INTERVAL_MS, RESULT_TTL_S). */
const LOCK_DURATION_MS = 30_000;
const STALLED_INTERVAL_MS = 30_000;
const RESULT_TTL_S = 604_800;

/** A request as the API stores it after validation, with every default filled in. */
const JOB_DATA = validRequest({ dataset: "goog-daily", strategy: "sma-cross", params: { fast: 10, slow: 30 } });

function validRequest(body: unknown): BacktestRequest {
  const request = parseBacktestRequest(body);
  if (request instanceof Error) throw request;
  return request;
}

// Only the engine call is stubbed: the processor around it is the product's.
Object.assign(execution, {
  executeBacktest: (): Promise<execution.ExecutionOutcome> =>
    Promise.resolve({ status: "completed", total: 0, result: { stats: { trades: 0 }, trades: [] } }),
});

async function addAll(count: number, add: () => Promise<unknown>): Promise<number> {
  const startedAt = monotonicMs();
  let next = 0;
  await Promise.all(
    Array.from({ length: ADDS_IN_FLIGHT }, async () => {
      while (next < count) {
        next += 1;
        await add();
      }
    }),
  );
  return (count / (monotonicMs() - startedAt)) * 1000;
}

/** Starts the worker, waits until `count` jobs completed, and returns the jobs per second. */
async function processAll(count: number, start: () => Worker): Promise<{ perSecond: number; worker: Worker }> {
  let completed = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const startedAt = monotonicMs();
  const worker = start();
  worker.on("completed", () => {
    completed += 1;
    if (completed === count) done();
  });
  worker.on("failed", (_job, err) => {
    throw err;
  });
  await finished;
  return { perSecond: (count / (monotonicMs() - startedAt)) * 1000, worker };
}

async function run(args: JobsRunArgs): Promise<JobsRunResult> {
  const logger = pino({ level: "warn" });
  const redisBefore = () => (args.redisPid === null ? undefined : sampleProcess(args.redisPid));
  let addsPerSecond: number;
  let processed: { perSecond: number; worker: Worker };
  let redisCpuS: number | undefined;
  const cpuBefore = { value: process.cpuUsage() };
  const closers: (() => Promise<unknown>)[] = [];

  if (args.mode === "raw") {
    const connection = new Redis(args.redisUrl, { maxRetriesPerRequest: null });
    const queue = new Queue(BACKTEST_QUEUE, {
      connection,
      prefix: args.prefix,
      streams: BACKTEST_QUEUE_STREAMS,
    });
    closers.push(
      () => queue.close(),
      async () => connection.disconnect(),
    );
    addsPerSecond = await addAll(args.jobs, () =>
      queue.add("backtest", JOB_DATA, {
        jobId: randomUUID(),
        removeOnComplete: { age: RESULT_TTL_S },
        removeOnFail: { age: RESULT_TTL_S },
      }),
    );
    const redisAtStart = redisBefore();
    cpuBefore.value = process.cpuUsage();
    const workerConnection = new Redis(args.redisUrl, { maxRetriesPerRequest: null });
    processed = await processAll(
      args.jobs,
      () =>
        new Worker(BACKTEST_QUEUE, async () => undefined, {
          connection: workerConnection,
          prefix: args.prefix,
          concurrency: args.concurrency,
        }),
    );
    const redisAtEnd = redisBefore();
    redisCpuS =
      redisAtStart === undefined || redisAtEnd === undefined ? undefined : redisAtEnd.cpuS - redisAtStart.cpuS;
    closers.push(
      () => processed.worker.close(),
      async () => workerConnection.disconnect(),
    );
  } else {
    const connection = parseRedisUrl(args.redisUrl);
    const clientOptions = { connection, logger, maskedAddress: "bench" };
    const producer = createProducerConnection({ ...clientOptions, connectionName: "bench:producer" });
    const jobs = new RedisBacktestJobs({
      connection: producer,
      prefix: args.prefix,
      resultTtlS: RESULT_TTL_S,
      commandTimeoutMs: 2_000,
      maskedAddress: "bench",
      logger,
    });
    while (!jobs.readiness().ready) await sleep(20);
    closers.push(
      () => jobs.close(),
      async () => producer.disconnect(),
    );
    addsPerSecond = await addAll(args.jobs, () => jobs.submit(JOB_DATA));

    const redisAtStart = redisBefore();
    cpuBefore.value = process.cpuUsage();
    const workerConnection = createWorkerConnection({ ...clientOptions, connectionName: "bench:worker" });
    // As in workers/main.ts, backtest events share the Worker's connection.
    const store = new RedisSnapshotStore(workerConnection, { prefix: args.prefix, resultTtlS: RESULT_TTL_S });
    processed = await processAll(
      args.jobs,
      () =>
        new Worker<BacktestRequest>(BACKTEST_QUEUE, createBacktestProcessor(store, logger), {
          connection: workerConnection,
          prefix: args.prefix,
          concurrency: args.concurrency,
          lockDuration: LOCK_DURATION_MS,
          stalledInterval: STALLED_INTERVAL_MS,
          maxStalledCount: MAX_STALLED_COUNT,
        }),
    );
    const redisAtEnd = redisBefore();
    redisCpuS =
      redisAtStart === undefined || redisAtEnd === undefined ? undefined : redisAtEnd.cpuS - redisAtStart.cpuS;
    closers.push(
      () => processed.worker.close(),
      async () => workerConnection.disconnect(),
    );
  }

  const cpu = process.cpuUsage(cpuBefore.value);
  for (const close of closers.reverse()) await close().catch(() => undefined);
  return {
    mode: args.mode,
    concurrency: args.concurrency,
    jobs: args.jobs,
    addsPerSecond: Math.round(addsPerSecond),
    processedPerSecond: Math.round(processed.perSecond),
    workerCpuSecondsPerMillion: round(((cpu.user + cpu.system) / 1e6 / args.jobs) * 1e6, 2),
    redisCpuSecondsPerMillion: redisCpuS === undefined ? null : round((redisCpuS / args.jobs) * 1e6, 2),
  };
}

/**
 * Times snapshot creation both ways on one connection with BullMQ's scripts defined on it, as
 * the web worker's producer connection has them: the MULTI that RedisSnapshotStore.create sent
 * before, and the store's create as it is now.
 */
async function compareCreate(args: CreateComparisonArgs): Promise<CreateComparisonResult> {
  const logger = pino({ level: "warn" });
  const producer = createProducerConnection({
    connection: parseRedisUrl(args.redisUrl),
    logger,
    maskedAddress: "bench",
    connectionName: "bench:create",
  });
  const jobs = new RedisBacktestJobs({
    connection: producer,
    prefix: args.prefix,
    resultTtlS: RESULT_TTL_S,
    commandTimeoutMs: 2_000,
    maskedAddress: "bench",
    logger,
  });
  while (!jobs.readiness().ready) await sleep(20);
  const store = new RedisSnapshotStore(producer, { prefix: args.prefix, resultTtlS: RESULT_TTL_S });
  try {
    let n = 0;
    const multiPerSecond = await addAll(args.creates, async () => {
      const key = store.key(`multi-${(n += 1)}`);
      await producer
        .multi()
        .hset(key, { state: "queued", seq: 0, processed: 0, total: 0 })
        .expire(key, RESULT_TTL_S)
        .exec();
    });
    const storePerSecond = await addAll(args.creates, () => store.create(`script-${(n += 1)}`, 0));
    return {
      creates: args.creates,
      multiPerSecond: Math.round(multiPerSecond),
      storePerSecond: Math.round(storePerSecond),
    };
  } finally {
    await jobs.close();
    producer.disconnect();
  }
}

const endpoint = parentEndpoint();
serveCommands<JobsRunnerCommands>(endpoint, { run, compareCreate });
process.on("disconnect", () => process.exit(0));
sendEvent(endpoint, "ready", { pid: process.pid });
