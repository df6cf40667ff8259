import { randomUUID } from "node:crypto";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { BacktestSnapshot } from "../../src/hubs/backtest-events";
import { BackplaneProcess } from "../support/backplane";
import { expectExactlyOnce } from "../support/exactly-once";
import {
  connectHub,
  eventually,
  getJson,
  postJson,
  recordEvents,
  subscribe,
  type HubSocket,
} from "../support/hub-client";
import { REDIS_SKIP_REASON, redisServerAvailable, TestRedisServer } from "../support/redis-server";

const PACED_BACKTEST = {
  dataset: "goog-daily",
  strategy: "sma-cross",
  params: { fast: 10, slow: 30 },
  barsPerSecond: 1_000,
};

/**
 * Two instances (two primaries, each with two web workers and a job process) joined only by
 * one Redis: a job submitted through one instance streams to subscribers of the other.
 */
describe.skipIf(!redisServerAvailable())("two instances sharing one Redis", () => {
  let redis: TestRedisServer;
  let instanceA: BackplaneProcess;
  let instanceB: BackplaneProcess;
  const sockets: HubSocket[] = [];

  beforeAll(async () => {
    redis = await TestRedisServer.start();
    const env = { REDIS_URL: redis.url, REDIS_PREFIX: `test${randomUUID().slice(0, 8)}` };
    [instanceA, instanceB] = await Promise.all([
      BackplaneProcess.start({ env: { ...env, INSTANCE_ID: "instance-a" } }),
      BackplaneProcess.start({ env: { ...env, INSTANCE_ID: "instance-b" } }),
    ]);
  });

  afterAll(async () => {
    for (const socket of sockets) socket.close();
    const codes = await Promise.all([instanceA?.stop(), instanceB?.stop()]);
    expect(codes).toEqual([0, 0]);
    await redis?.dispose();
  });

  async function follow(instance: BackplaneProcess, id: string) {
    const socket = await connectHub(instance.url, ["websocket"]);
    sockets.push(socket);
    const events = recordEvents(socket);
    const reply = await subscribe(socket, id);
    if ("error" in reply) throw new Error(reply.error.message);
    return { events, reply };
  }

  it("streams a job submitted on A to subscribers on both instances once", async () => {
    const submitted = await postJson(`${instanceA.url}/api/backtests`, PACED_BACKTEST);
    expect(submitted.status).toBe(202);
    expect(submitted.worker).toMatch(/^instance-a\//);
    const { id } = submitted.body as { id: string };

    const followers: Awaited<ReturnType<typeof follow>>[] = [];
    for (const instance of [instanceB, instanceB, instanceA, instanceA]) followers.push(await follow(instance, id));
    const labels = followers.map(({ reply }) => reply.worker);
    expect(new Set(labels.filter((label) => label.startsWith("instance-b/"))).size).toBe(2);
    expect(new Set(labels.filter((label) => label.startsWith("instance-a/"))).size).toBe(2);

    await eventually(
      () => (followers.every(({ events }) => events.some((event) => event.type === "completed")) ? true : undefined),
      30_000,
      "completed on every follower",
    );
    await new Promise((resolve) => setTimeout(resolve, 300));

    const fromB = (await getJson(`${instanceB.url}/api/backtests/${id}`)).body as BacktestSnapshot;
    expect(fromB.state).toBe("completed");
    expect(fromB.result?.stats.trades).toBe(66);
    for (const { events, reply } of followers) {
      expectExactlyOnce(events, reply.snapshot.seq);
      expect(events.at(-1)?.seq).toBe(fromB.seq);
    }
  });

  it("cancels through B a job submitted through A", async () => {
    const submitted = await postJson(`${instanceA.url}/api/backtests`, { ...PACED_BACKTEST, barsPerSecond: 200 });
    const { id } = submitted.body as { id: string };
    const follower = await follow(instanceA, id);
    await eventually(
      () => (follower.events.some((event) => event.type === "progress") ? true : undefined),
      10_000,
      "progress",
    );

    const response = await fetch(`${instanceB.url}/api/backtests/${id}`, { method: "DELETE" });
    expect(response.status).toBe(202);
    await eventually(
      () => (follower.events.some((event) => event.type === "cancelled") ? true : undefined),
      10_000,
      "cancelled",
    );
    expectExactlyOnce(follower.events, follower.reply.snapshot.seq, "cancelled");
    expect(((await getJson(`${instanceA.url}/api/backtests/${id}`)).body as BacktestSnapshot).state).toBe("cancelled");
  });
});

if (!redisServerAvailable()) console.warn(`two-instance tests skipped: ${REDIS_SKIP_REASON}`);
