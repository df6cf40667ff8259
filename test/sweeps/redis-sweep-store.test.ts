import { randomUUID } from "node:crypto";

import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { SweepEntry } from "../../src/hubs/backtest-events";
import { RedisSnapshotStore } from "../../src/queues/redis-snapshot-store";
import { RedisSweepStore } from "../../src/queues/redis-sweep-store";
import { type SweepRequest, gridAxes, parseSweepRequest } from "../../src/queues/sweep-request";
import { type ChunkResult, rankResults } from "../../src/queues/sweep-results";
import { ApiError } from "../../src/web/errors";
import { REDIS_SKIP_REASON, TestRedisServer, redisServerAvailable } from "../support/redis-server";

const hasRedis = redisServerAvailable();

function sweepRequest(order: "asc" | "desc"): SweepRequest {
  const parsed = parseSweepRequest({
    dataset: "goog-daily",
    strategy: "sma-cross",
    grid: { fast: [1, 2, 3, 4], slow: [10, 20, 30] },
    order,
  });
  if (parsed instanceof ApiError) throw parsed;
  return parsed;
}

/** A chunk of `count` combinations from `first`, whose sharpe is `values[i]`. */
function chunkOf(chunk: number, first: number, values: (number | null)[]): ChunkResult {
  return {
    chunk,
    first,
    count: values.length,
    stats: ["sharpe"],
    rows: values.map((value) => [value]),
    invalid: 0,
    invalidExamples: [],
  };
}

describe.skipIf(!hasRedis)("sweep results in Redis", () => {
  let server: TestRedisServer;
  let redis: Redis;

  beforeAll(async () => {
    server = await TestRedisServer.start();
    redis = new Redis(server.port, "127.0.0.1", { maxRetriesPerRequest: 1 });
  });

  afterAll(async () => {
    redis?.disconnect();
    await server?.dispose();
  });

  function stores(): { sweeps: RedisSweepStore; snapshots: RedisSnapshotStore } {
    const options = { prefix: `test-${randomUUID()}`, resultTtlS: 60 };
    return { sweeps: new RedisSweepStore(redis, options), snapshots: new RedisSnapshotStore(redis, options) };
  }

  async function record(
    sweeps: RedisSweepStore,
    id: string,
    request: SweepRequest,
    result: ChunkResult,
    intervalMs = 0,
  ) {
    const candidates = rankResults([result], gridAxes(request), "sharpe", request.order, 5);
    return sweeps.recordChunk(id, result, candidates, request, intervalMs);
  }

  it("counts a chunk recorded twice once", async () => {
    const { sweeps } = stores();
    const request = sweepRequest("desc");
    await sweeps.create("s1", request, 12);

    const first = await record(sweeps, "s1", request, chunkOf(0, 0, [0.1, 0.2, 0.3]));
    const again = await record(sweeps, "s1", request, chunkOf(0, 0, [0.1, 0.2, 0.3]));
    expect(first.processed).toBe(3);
    expect(again.processed).toBe(3);
    expect((await sweeps.read("s1"))?.results).toHaveLength(1);
  });

  it("keeps the best five, ties by index", async () => {
    for (const order of ["desc", "asc"] as const) {
      const { sweeps } = stores();
      const request = sweepRequest(order);
      await sweeps.create("s2", request, 12);
      await record(sweeps, "s2", request, chunkOf(0, 0, [0.5, null, 0.9, 0.1, 0.5, 0.7]));
      const recorded = await record(sweeps, "s2", request, chunkOf(1, 6, [0.5, 0.95, -0.2, 0.3, 0.05, 0.6]));

      const expected = order === "desc" ? [7, 2, 5, 11, 0] : [8, 10, 3, 9, 0];
      expect(
        recorded.best.map((entry: SweepEntry) => entry.index),
        order,
      ).toEqual(expected);
      expect(recorded.best[0]?.params, order).toEqual(order === "desc" ? { fast: 3, slow: 20 } : { fast: 3, slow: 30 });
    }
  });

  it("makes progress due once per interval and for the last chunk", async () => {
    const { sweeps } = stores();
    const request = sweepRequest("desc");
    await sweeps.create("s3", request, 6);

    expect((await record(sweeps, "s3", request, chunkOf(0, 0, [0.1, 0.2]), 60_000)).due).toBe(true);
    expect((await record(sweeps, "s3", request, chunkOf(1, 2, [0.1, 0.2]), 60_000)).due).toBe(false);
    const last = await record(sweeps, "s3", request, chunkOf(2, 4, [0.1, 0.2]), 60_000);
    expect(last).toMatchObject({ processed: 6, total: 6, due: true });
  });

  // Guards the order of sweep progress: chunks on two job processes may publish out of order.
  it("drops sweep progress older than the snapshot", async () => {
    const { snapshots } = stores();
    await snapshots.create("s4", 10);
    const best: SweepEntry[] = [{ index: 0, params: { fast: 1 }, stats: { sharpe: 1 } }];

    expect(await snapshots.emit({ type: "progress", id: "s4", processed: 6, total: 10, best })).toBe(1);
    expect(await snapshots.emit({ type: "progress", id: "s4", processed: 4, total: 10, best })).toBe(-2);
    expect(await snapshots.emit({ type: "progress", id: "s4", processed: 10, total: 10, best })).toBe(2);
    const snapshot = await snapshots.read("s4");
    expect(snapshot).toMatchObject({ seq: 2, progress: { processed: 10 }, best });

    // A backtest's progress carries no list and may restart from 0 when its job is retried.
    expect(await snapshots.emit({ type: "progress", id: "s4", processed: 0, total: 10 })).toBe(3);
  });
});

if (!hasRedis) console.warn(`Redis sweep store tests skipped: ${REDIS_SKIP_REASON}`);
