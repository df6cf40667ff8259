import { randomUUID } from "node:crypto";

import { type Job, WaitingError, Worker } from "bullmq";
import { Redis } from "ioredis";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { BacktestEvent } from "../../src/hubs/backtest-events";
import { decodeCompletion, type BacktestCompletion } from "../../src/queues/backtest-completion";
import { BACKTEST_QUEUE, backtestEventsKey } from "../../src/queues/backtest-queue";
import { type BacktestRequest, parseBacktestRequest } from "../../src/queues/backtest-request";
import { RedisBacktestJobs } from "../../src/queues/redis-backtest-jobs";
import { RedisSnapshotStore } from "../../src/queues/redis-snapshot-store";
import { parseRedisUrl } from "../../src/config/redis-url";
import { createProducerConnection } from "../../src/redis/clients";
import { createBacktestProcessor } from "../../workers/backtest-processor";
import { REDIS_SKIP_REASON, TestRedisServer, redisServerAvailable } from "../support/redis-server";
import { until } from "../support/hub-client";

const skipReason = redisServerAvailable() ? undefined : REDIS_SKIP_REASON;
const TTL_S = 60;

function request(body: Record<string, unknown> = {}): BacktestRequest {
  const parsed = parseBacktestRequest({ dataset: "goog-daily", strategy: "sma-cross", ...body });
  if (parsed instanceof Error) throw parsed;
  return parsed;
}

/** Collects the events published on a store's channel, in order. */
async function listen(server: TestRedisServer, channel: string) {
  const subscriber = new Redis(server.port, "127.0.0.1");
  const events: BacktestEvent[] = [];
  subscriber.on("message", (_channel, message: string) => events.push(JSON.parse(message) as BacktestEvent));
  await subscriber.subscribe(channel);
  return { events, close: () => subscriber.disconnect() };
}

describe.skipIf(skipReason !== undefined)(
  `backtest jobs and snapshots in Redis${skipReason === undefined ? "" : ` (${skipReason})`}`,
  () => {
    let server: TestRedisServer;
    let redis: Redis;
    const logger = pino({ level: "silent" });

    beforeAll(async () => {
      server = await TestRedisServer.start();
      redis = new Redis(server.port, "127.0.0.1", { maxRetriesPerRequest: null });
    });

    afterAll(async () => {
      redis?.disconnect();
      await server?.dispose();
    });

    async function setup(resultTtlS = TTL_S) {
      const prefix = `test-${randomUUID()}`;
      const jobs = new RedisBacktestJobs({
        connection: redis,
        prefix,
        resultTtlS,
        commandTimeoutMs: 2_000,
        maskedAddress: "test",
        logger,
      });
      await until(() => jobs.readiness().ready, "the queue is connected");
      const store = new RedisSnapshotStore(redis, { prefix, resultTtlS: TTL_S });
      return { prefix, jobs, store };
    }

    type Processor = (
      job: Job<BacktestRequest, BacktestCompletion | undefined>,
      token?: string,
    ) => Promise<BacktestCompletion | undefined>;

    /**
     * Starts a Worker as workers/main.ts does: the Worker and the snapshot store share one
     * connection. `wrap` may put test steps around the product's processor.
     */
    function startWorker(
      prefix: string,
      wrap: (processor: Processor, store: RedisSnapshotStore) => Processor = (processor) => processor,
      concurrency = 1,
    ) {
      const connection = redis.duplicate();
      const store = new RedisSnapshotStore(connection, { prefix, resultTtlS: TTL_S });
      const logLines: Record<string, unknown>[] = [];
      const jobLogger = pino(
        { level: "info" },
        { write: (line: string) => logLines.push(JSON.parse(line) as Record<string, unknown>) },
      );
      const worker = new Worker<BacktestRequest, BacktestCompletion | undefined>(
        BACKTEST_QUEUE,
        wrap(createBacktestProcessor(store, jobLogger), store),
        { connection, prefix, concurrency },
      );

      // Outcomes are recorded from the start, so a job that ends before the test waits is not missed.
      const outcomes = new Map<string, Error | undefined>();
      const waiters = new Map<string, () => void>();
      const record = (id: string | undefined, err?: Error) => {
        if (id === undefined) return;
        outcomes.set(id, err);
        waiters.get(id)?.();
      };
      worker.on("completed", (job) => record(job.id));
      worker.on("failed", (job, err) => record(job?.id, err));

      /** Resolves when the Worker has completed the job. */
      const completion = (id: string) =>
        new Promise<void>((resolve, reject) => {
          const settle = () => {
            const err = outcomes.get(id);
            if (err === undefined) resolve();
            else reject(err);
          };
          if (outcomes.has(id)) settle();
          else waiters.set(id, settle);
        });
      const close = async () => {
        await worker.close();
        connection.disconnect();
      };
      return { store, logLines, completion, close };
    }

    it("reports queued and unknown backtests", async () => {
      const { jobs } = await setup();
      const id = await jobs.submit(request());
      expect(await jobs.snapshot(id)).toEqual({
        id,
        state: "queued",
        seq: 0,
        progress: { processed: 0, total: 0, percent: 0 },
      });
      expect(await jobs.snapshot(randomUUID())).toBeUndefined();
      await jobs.close();
    });

    it("answers 503 when Redis stops replying", async () => {
      const producer = createProducerConnection({
        connection: parseRedisUrl(server.url),
        connectionName: "test-producer",
        logger,
        commandTimeoutMs: 300,
      });
      const jobs = new RedisBacktestJobs({
        connection: producer,
        prefix: `test-${randomUUID()}`,
        resultTtlS: TTL_S,
        commandTimeoutMs: 300,
        maskedAddress: "127.0.0.1:test",
        logger,
      });
      try {
        await until(() => jobs.readiness().ready, "the queue is connected");
        // CLIENT PAUSE delays every client's commands, like a server that stopped replying.
        await redis.call("CLIENT", "PAUSE", "1000", "ALL");
        await expect(jobs.submit(request())).rejects.toMatchObject({
          status: 503,
          message: "cannot submit the backtest: Redis at 127.0.0.1:test did not answer within 300 ms. Retry later.",
        });
      } finally {
        await jobs.close();
        producer.disconnect();
      }
    });

    it("cancels a waiting job", async () => {
      const { jobs, store } = await setup();
      const id = await jobs.submit(request());
      const outcome = await jobs.cancel(id);
      expect(outcome).toMatchObject({ status: "accepted", snapshot: { id, state: "cancelled", seq: 1 } });
      const ttl = await redis.ttl(store.key(id));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(TTL_S);
      expect(await jobs.cancel(id)).toMatchObject({ status: "finished" });
      await jobs.close();
    });

    /** Reads the completions that BullMQ appended to the queue's events stream for one backtest. */
    async function streamedCompletions(prefix: string, id: string): Promise<BacktestCompletion[]> {
      const entries = await redis.xrange(backtestEventsKey(prefix), "-", "+");
      const completions: BacktestCompletion[] = [];
      for (const [, fields] of entries) {
        const entry = new Map<string, string>();
        for (let i = 0; i + 1 < fields.length; i += 2) entry.set(fields[i] as string, fields[i + 1] as string);
        if (entry.get("event") !== "completed" || entry.get("jobId") !== id) continue;
        const completion = decodeCompletion(entry.get("returnvalue"));
        if (completion === undefined || completion instanceof Error)
          throw new Error(`no completion in ${fields.join(" ")}`);
        completions.push(completion);
      }
      return completions;
    }

    it("completes through BullMQ, keeping the request", async () => {
      const { prefix, jobs } = await setup();
      const { store, completion, close } = startWorker(prefix);
      const listener = await listen(server, store.channel);
      try {
        const submitted = request({ params: { fast: 10, slow: 30 } });
        const id = await jobs.submit(submitted);
        await completion(id);

        // Progress went out on the snapshot channel, numbered from 1; `completed` follows them.
        const progress = listener.events.filter((event) => event.id === id);
        expect(progress.length).toBeGreaterThan(0);
        expect(progress.every((event) => event.type === "progress")).toBe(true);
        expect(progress.map((event) => event.seq)).toEqual(progress.map((_, index) => index + 1));

        const snapshot = await jobs.snapshot(id);
        expect(snapshot).toMatchObject({
          id,
          state: "completed",
          seq: progress.length + 1,
          progress: { percent: 100 },
        });
        expect(snapshot?.result?.stats.trades).toBeGreaterThan(0);
        expect(await jobs.request(id)).toEqual(submitted);

        // The result is the job's return value: BullMQ keeps the job by age and streamed it once.
        expect(await redis.zscore(`${prefix}:${BACKTEST_QUEUE}:completed`, id)).not.toBeNull();
        const streamed = await streamedCompletions(prefix, id);
        expect(streamed).toHaveLength(1);
        expect(streamed[0]).toEqual({ seq: snapshot?.seq, total: snapshot?.progress.total, result: snapshot?.result });
        // The snapshot hash contains progress only.
        expect(await redis.hget(store.key(id), "result")).toBeNull();
      } finally {
        listener.close();
        await close();
        await jobs.close();
      }
    });

    it("reports a malformed return value by name", async () => {
      const { prefix, jobs } = await setup();
      const id = await jobs.submit(request());
      await redis.hset(`${prefix}:${BACKTEST_QUEUE}:${id}`, "returnvalue", '{"seq":"one"}');
      await expect(jobs.snapshot(id)).rejects.toThrow(/return value has no numeric seq and total: \{"seq":"one"\}/);
      await jobs.close();
    });

    it("writes an event before later commands", async () => {
      const { store } = await setup();
      const id = randomUUID();
      // emit() hands its command to the connection before it returns, so later commands follow it.
      const emitted = store.emit({ type: "cancelled", id });
      await Promise.resolve();
      expect(await redis.hget(store.key(id), "state")).toBe("cancelled");
      expect(await emitted).toBe(1);
    });

    it("numbers simultaneous events in order", async () => {
      const { store } = await setup();
      const listener = await listen(server, store.channel);
      try {
        const id = randomUUID();
        const codes = await Promise.all(
          Array.from({ length: 50 }, (_, i) => store.emit({ type: "progress", id, processed: i + 1, total: 50 })),
        );
        expect(codes).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
        expect(await store.emit({ type: "cancelled", id })).toBe(51);
        expect(await store.emit({ type: "progress", id, processed: 50, total: 50 })).toBe(-1);
        await until(() => listener.events.length === 51, "all events are published");
        expect(listener.events.map((event) => event.seq)).toEqual(codes.concat(51));
      } finally {
        listener.close();
      }
    });

    describe("a job started again", () => {
      /**
       * Starts a Worker whose first start of each job runs `meanwhile` and hands the job back to the
       * wait list, as a stopping job process does, so that BullMQ starts it a second time.
       */
      function startHandingBack(prefix: string, meanwhile: (store: RedisSnapshotStore, id: string) => Promise<void>) {
        const starts: number[] = [];
        const started = startWorker(prefix, (processor, store) => async (job, token) => {
          starts.push(job.attemptsStarted);
          if (job.attemptsStarted > 1) return processor(job, token);
          await meanwhile(store, job.id as string);
          await job.moveToWait(token);
          throw new WaitingError();
        });
        return { ...started, starts };
      }

      it("skips an ended backtest", async () => {
        const { prefix, jobs } = await setup();
        const { store, starts, logLines, completion, close } = startHandingBack(prefix, async (store, id) => {
          await store.emit({ type: "cancelled", id });
        });
        try {
          const id = await jobs.submit(request());
          await completion(id);

          expect(starts).toEqual([1, 2]);
          expect(await store.read(id)).toMatchObject({ state: "cancelled", seq: 1 });
          // Events after `cancelled` would be dropped anyway; the log shows the backtest never ran.
          expect(logLines.filter((line) => line["msg"] === "backtest started")).toEqual([]);
        } finally {
          await close();
          await jobs.close();
        }
      });

      it("cancels without running", async () => {
        const { prefix, jobs } = await setup();
        const { store, starts, completion, close } = startHandingBack(prefix, async (store, id) => {
          await store.emit({ type: "progress", id, processed: 10, total: 100 });
          await store.requestCancel(id);
        });
        try {
          const id = await jobs.submit(request());
          await completion(id);

          expect(starts).toEqual([1, 2]);
          expect(await store.read(id)).toMatchObject({
            state: "cancelled",
            seq: 2,
            progress: { processed: 10, total: 100 },
          });
        } finally {
          await close();
          await jobs.close();
        }
      });
    });

    it("numbers the result after an earlier attempt", async () => {
      const { prefix, jobs } = await setup();
      const listener = await listen(server, `${prefix}:backtest-events`);
      let firstAttempt = true;
      const { completion, close } = startWorker(prefix, (processor, store) => async (job, token) => {
        if (!firstAttempt) return processor(job, token);
        firstAttempt = false;
        // A job process that emitted two events and was stopped before the end.
        await store.emit({ type: "progress", id: job.id as string, processed: 10, total: 100 });
        await store.emit({ type: "progress", id: job.id as string, processed: 20, total: 100 });
        await job.moveToWait(token);
        throw new WaitingError();
      });
      try {
        const id = await jobs.submit(request());
        await completion(id);

        const published = listener.events.filter((event) => event.id === id).map((event) => event.seq);
        expect(published.slice(0, 2)).toEqual([1, 2]);
        expect(published).toEqual(published.map((_, index) => index + 1));
        expect(await jobs.snapshot(id)).toMatchObject({ state: "completed", seq: published.length + 1 });
      } finally {
        listener.close();
        await close();
        await jobs.close();
      }
    });

    it("cancels an active job by polling", async () => {
      const { prefix, jobs } = await setup();
      const { completion, close } = startWorker(prefix);
      try {
        // At 50 bars a second, goog-daily's bars would take about 40 s without the cancel.
        const id = await jobs.submit(request({ barsPerSecond: 50 }));
        await until(async () => (await jobs.snapshot(id))?.state === "running", "the backtest starts");

        // The job is locked by the Worker, so the API cannot remove it and leaves it to the poll.
        const outcome = await jobs.cancel(id);
        expect(outcome).toMatchObject({ status: "accepted", snapshot: { state: "running" } });
        await completion(id);

        const snapshot = await jobs.snapshot(id);
        expect(snapshot?.state).toBe("cancelled");
        expect(snapshot?.progress.percent).toBeLessThan(100);
      } finally {
        await close();
        await jobs.close();
      }
    });

    it("cancels one of two running jobs", async () => {
      const { prefix, jobs } = await setup();
      const { completion, close } = startWorker(prefix, undefined, 2);
      try {
        // Both would run for about 40 s: one poll reads both cancel flags, and only one is set.
        const running = await jobs.submit(request({ barsPerSecond: 50 }));
        const cancelled = await jobs.submit(request({ barsPerSecond: 50 }));
        for (const id of [running, cancelled]) {
          await until(async () => (await jobs.snapshot(id))?.state === "running", "both backtests run");
        }

        await jobs.cancel(cancelled);
        await completion(cancelled);
        expect((await jobs.snapshot(cancelled))?.state).toBe("cancelled");
        expect((await jobs.snapshot(running))?.state).toBe("running");

        await jobs.cancel(running);
        await completion(running);
        expect((await jobs.snapshot(running))?.state).toBe("cancelled");
      } finally {
        await close();
        await jobs.close();
      }
    });

    it("reads a backtest as unknown once BullMQ removed its job", async () => {
      const { prefix, jobs, store } = await setup(1);
      const { completion, close } = startWorker(prefix);
      try {
        const old = await jobs.submit(request());
        await completion(old);
        // BullMQ removes completed jobs older than the time to live when a later job completes.
        await new Promise((resolve) => setTimeout(resolve, 1_100));
        const later = await jobs.submit(request());
        await completion(later);

        expect(await redis.exists(store.jobKey(old))).toBe(0);
        // The snapshot hash is still in the running state, which must not be read as the backtest's state.
        expect(await redis.hget(store.key(old), "state")).toBe("running");
        expect(await jobs.snapshot(old)).toBeUndefined();
        expect(await jobs.cancel(old)).toEqual({ status: "not_found" });
        expect((await jobs.snapshot(later))?.state).toBe("completed");
      } finally {
        await close();
        await jobs.close();
      }
    });

    it("reads a finished job without a snapshot as unknown", async () => {
      const { prefix, jobs, store } = await setup();
      const { completion, close } = startWorker(prefix, () => () => Promise.reject(new Error("job process failed")));
      try {
        const id = await jobs.submit(request());
        await expect(completion(id)).rejects.toThrow("job process failed");

        // The failed job is kept by age, and its snapshot hash has expired or was never written.
        expect(await redis.hexists(store.jobKey(id), "finishedOn")).toBe(1);
        expect(await jobs.snapshot(id)).toBeUndefined();
      } finally {
        await close();
        await jobs.close();
      }
    });

    it("reads a running sweep without a backtest job", async () => {
      const { store } = await setup();
      const id = randomUUID();
      await store.create(id, 10);
      await store.emit({ type: "progress", id, processed: 4, total: 10 });
      expect(await store.read(id)).toMatchObject({ id, state: "running", seq: 1, progress: { processed: 4 } });
    });
  },
);
