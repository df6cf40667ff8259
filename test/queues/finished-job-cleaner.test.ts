import { randomUUID } from "node:crypto";

import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { startFinishedJobCleaner } from "../../src/queues/finished-job-cleaner";
import { REDIS_SKIP_REASON, TestRedisServer, redisServerAvailable } from "../support/redis-server";
import { until } from "../support/hub-client";

const skipReason = redisServerAvailable() ? undefined : REDIS_SKIP_REASON;

describe.skipIf(skipReason !== undefined)(
  `finished job cleaner${skipReason === undefined ? "" : ` (${skipReason})`}`,
  () => {
    let server: TestRedisServer;
    let redis: Redis;

    beforeAll(async () => {
      server = await TestRedisServer.start();
      redis = new Redis(server.port, "127.0.0.1", { maxRetriesPerRequest: null });
    });

    afterAll(async () => {
      redis?.disconnect();
      await server?.dispose();
    });

    it("removes old finished jobs without a later completion", async () => {
      const prefix = `test-${randomUUID()}`;
      const queue = new Queue("cleaned", { connection: redis, prefix });
      const worker = new Worker<{ fail?: boolean }>(
        "cleaned",
        async (job) => {
          if (job.data.fail === true) throw new Error("failed on purpose");
          return { ok: true };
        },
        { connection: redis.duplicate(), prefix },
      );
      const finished = new Set<string>();
      worker.on("completed", (job) => finished.add(job.id as string));
      worker.on("failed", (job) => finished.add(job?.id as string));
      // BullMQ alone would keep these jobs for an hour.
      const options = { removeOnComplete: { age: 3_600 }, removeOnFail: { age: 3_600 } };
      const cleaner = startFinishedJobCleaner({ queue, maxAgeS: 1, logger: pino({ level: "silent" }) });
      try {
        const completed = await queue.add("job", {}, options);
        const failed = await queue.add("job", { fail: true }, options);
        await until(() => finished.size === 2, "both jobs finish");
        expect(await queue.getJobCounts("completed", "failed")).toEqual({ completed: 1, failed: 1 });

        await until(async () => (await queue.getJob(completed.id as string)) === undefined, "the completed job goes");
        await until(async () => (await queue.getJob(failed.id as string)) === undefined, "the failed job goes");

        // A job younger than the age stays.
        const fresh = await queue.add("job", {}, options);
        await until(() => finished.has(fresh.id as string), "the fresh job completes");
        expect(await queue.getJob(fresh.id as string)).toBeDefined();
      } finally {
        cleaner.stop();
        await worker.close();
        await queue.close();
      }
    });
  },
);
