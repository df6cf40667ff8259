import { randomUUID } from "node:crypto";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { BacktestEvent, BacktestSnapshot, SubscribeReply } from "../../src/hubs/backtest-events";
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

const SUBSCRIBERS = 4;

/** Paced so that the run lasts about two seconds and emits a stream of progress events. */
const PACED_GOOG_BACKTEST = {
  dataset: "goog-daily",
  strategy: "sma-cross",
  params: { fast: 10, slow: 30 },
  cash: 10_000,
  commission: 0,
  barsPerSecond: 1_000,
};

interface Mode {
  name: string;
  redis: boolean;
}

const hasRedis = redisServerAvailable();

describe.each<Mode>([
  { name: "single-host mode", redis: false },
  { name: "Redis mode", redis: true },
])("backtest streaming in $name", ({ redis }) => {
  let redisServer: TestRedisServer | undefined;
  let server: BackplaneProcess;
  const sockets: HubSocket[] = [];

  beforeAll(async () => {
    if (redis && !hasRedis) return;
    const env: Record<string, string> = {};
    if (redis) {
      redisServer = await TestRedisServer.start();
      env["REDIS_URL"] = redisServer.url;
      env["REDIS_PREFIX"] = `test${randomUUID().slice(0, 8)}`;
    }
    server = await BackplaneProcess.start({ webWorkers: 2, env });
    if (redis) await server.waitForLog((line) => line.msg === "job process ready");
  });

  afterAll(async () => {
    for (const socket of sockets) socket.close();
    if (server !== undefined) expect(await server.stop()).toBe(0);
    await redisServer?.dispose();
  });

  it.skipIf(redis && !hasRedis)("delivers every event once to subscribers on both workers", async () => {
    const submitted = await postJson(`${server.url}/api/backtests`, PACED_GOOG_BACKTEST);
    expect(submitted.status).toBe(202);
    const { id } = submitted.body as { id: string };

    // One after the other, so that least-connection balancing alternates between the workers.
    const subscribers: { socket: HubSocket; events: BacktestEvent[]; reply: SubscribeReply }[] = [];
    for (let i = 0; i < SUBSCRIBERS; i += 1) {
      const socket = await connectHub(server.url, i % 2 === 0 ? ["websocket"] : ["polling"]);
      sockets.push(socket);
      const events = recordEvents(socket);
      const reply = await subscribe(socket, id);
      if ("error" in reply) throw new Error(reply.error.message);
      subscribers.push({ socket, events, reply });
    }
    expect(new Set(subscribers.map(({ reply }) => reply.worker)).size).toBe(2);

    await eventually(
      () => (subscribers.every(({ events }) => events.some((event) => event.type === "completed")) ? true : undefined),
      30_000,
      "every subscriber to receive completed",
    );
    // Give late duplicates, if any, a moment to arrive before counting.
    await new Promise((resolve) => setTimeout(resolve, 300));

    const finalSnapshot = (await getJson(`${server.url}/api/backtests/${id}`)).body as BacktestSnapshot;
    expect(finalSnapshot.state).toBe("completed");
    for (const { events, reply } of subscribers) {
      expectExactlyOnce(events, reply.snapshot.seq);
      expect(events.filter((event) => event.type === "progress").length).toBeGreaterThan(3);
      expect(events.at(-1)?.seq).toBe(finalSnapshot.seq);
    }

    const completed = subscribers[0]?.events.find((event) => event.type === "completed");
    if (completed?.type !== "completed") throw new Error("no completed event");
    expect(completed.result.stats.trades).toBe(66);
    expect(completed.result.stats["equityFinal"]).toBeCloseTo(51422.98999999996, 6);
    expect(finalSnapshot.result?.stats.trades).toBe(66);
  });

  it.skipIf(redis && !hasRedis)("cancels a backtest from any worker", async () => {
    const submitted = await postJson(`${server.url}/api/backtests`, { ...PACED_GOOG_BACKTEST, barsPerSecond: 200 });
    const { id } = submitted.body as { id: string };
    const socket = await connectHub(server.url, ["websocket"]);
    sockets.push(socket);
    const events = recordEvents(socket);
    const reply = await subscribe(socket, id);
    if ("error" in reply) throw new Error(reply.error.message);

    await eventually(
      () => (events.some((event) => event.type === "progress") ? true : undefined),
      10_000,
      "first progress",
    );
    // Each DELETE opens a new connection, which the primary may give to either worker; repeat
    // until a worker has answered, and check the answers agree.
    const response = await fetch(`${server.url}/api/backtests/${id}`, { method: "DELETE" });
    expect(response.status).toBe(202);

    await eventually(
      () => (events.some((event) => event.type === "cancelled") ? true : undefined),
      10_000,
      "cancelled event",
    );
    expectExactlyOnce(events, reply.snapshot.seq, "cancelled");
    const snapshot = (await getJson(`${server.url}/api/backtests/${id}`)).body as BacktestSnapshot;
    expect(snapshot.state).toBe("cancelled");
    expect(snapshot.progress.processed).toBeLessThan(snapshot.progress.total);

    const again = await fetch(`${server.url}/api/backtests/${id}`, { method: "DELETE" });
    expect(again.status).toBe(409);
  });

  it.skipIf(redis && !hasRedis)("serves a snapshot from either worker", async () => {
    const submitted = await postJson(`${server.url}/api/backtests`, {
      ...PACED_GOOG_BACKTEST,
      barsPerSecond: undefined,
    });
    const { id } = submitted.body as { id: string };
    await eventually(
      async () =>
        ((await getJson(`${server.url}/api/backtests/${id}`)).body as BacktestSnapshot).state === "completed" ||
        undefined,
      20_000,
      "the backtest to complete",
    );

    // Plain requests go to the worker with the fewest socket.io sessions, so opening a session
    // between two requests moves the next request to the other worker.
    const seenBy = new Set<string>();
    for (let i = 0; i < 4; i += 1) {
      const response = await fetch(`${server.url}/api/backtests/${id}`);
      expect(response.status).toBe(200);
      expect(((await response.json()) as BacktestSnapshot).state).toBe("completed");
      seenBy.add(String(response.headers.get("x-backplane-worker")));
      sockets.push(await connectHub(server.url, ["websocket"]));
    }
    expect(seenBy.size).toBe(2);
  });
});

if (!hasRedis) console.warn(`Redis-mode streaming tests skipped: ${REDIS_SKIP_REASON}`);
