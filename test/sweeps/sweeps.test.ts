import { randomUUID } from "node:crypto";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type {
  BacktestEvent,
  BacktestSnapshot,
  BacktestState,
  SweepEntry,
  SubscribeReply,
} from "../../src/hubs/backtest-events";
import type { Heatmap } from "../../src/queues/sweep-results";
import { callApi, pollUntil, waitForBacktest } from "../support/api";
import { BackplaneProcess } from "../support/backplane";
import { expectExactlyOnce } from "../support/exactly-once";
import { connectHub, eventually, recordEvents, subscribe, type HubSocket } from "../support/hub-client";
import { REDIS_SKIP_REASON, TestRedisServer, redisServerAvailable } from "../support/redis-server";

/** 6 × 11 = 66 combinations on 2,148 daily bars: well under a second of work. */
const GOOG_SWEEP = {
  dataset: "goog-daily",
  strategy: "sma-cross",
  grid: { fast: { from: 5, to: 10, step: 1 }, slow: { from: 20, to: 30, step: 1 } },
};

/** 8 × 11 = 88 combinations on 62,482 hourly bars: a few seconds, in eight chunks. */
const BTC_SWEEP = {
  dataset: "btcusdt-1h",
  strategy: "sma-cross",
  fractional: true,
  grid: { fast: { from: 5, to: 12, step: 1 }, slow: { from: 20, to: 40, step: 2 } },
};

/** 26 × 21 = 546 combinations on hourly bars: long enough to cancel midway. */
const LONG_SWEEP = { ...BTC_SWEEP, grid: { fast: { from: 5, to: 30, step: 1 }, slow: { from: 40, to: 80, step: 2 } } };

const TERMINAL: readonly BacktestState[] = ["completed", "failed", "cancelled"];

async function submitSweep(baseUrl: string, body: unknown): Promise<string> {
  const reply = await callApi(baseUrl, "POST", "/api/sweeps", { json: body });
  expect(reply.status, JSON.stringify(reply.body)).toBe(202);
  return (reply.body as { id: string }).id;
}

async function waitForSweep(baseUrl: string, id: string, timeoutMs = 30_000): Promise<BacktestSnapshot> {
  return pollUntil(
    async () => {
      const reply = await callApi(baseUrl, "GET", `/api/sweeps/${id}`);
      const snapshot = reply.body as BacktestSnapshot;
      return reply.status === 200 && TERMINAL.includes(snapshot.state) ? snapshot : undefined;
    },
    { timeoutMs, what: `sweep ${id} to end` },
  );
}

function expectRanked(entries: readonly SweepEntry[], stat: string, order: "asc" | "desc"): void {
  const values = entries
    .map((entry) => entry.stats[stat])
    .filter((value): value is number => typeof value === "number");
  const sorted = [...values].sort((a, b) => (order === "desc" ? b - a : a - b));
  expect(values).toEqual(sorted);
}

interface Mode {
  name: string;
  redis: boolean;
}

const hasRedis = redisServerAvailable();

describe.each<Mode>([
  { name: "single-host mode", redis: false },
  { name: "Redis mode", redis: true },
])("parameter sweeps in $name", ({ redis }) => {
  let redisServer: TestRedisServer | undefined;
  let server: BackplaneProcess;
  const sockets: HubSocket[] = [];

  beforeAll(async () => {
    if (redis && !hasRedis) return;
    const env: Record<string, string> = { JOB_CONCURRENCY: "1" };
    if (redis) {
      redisServer = await TestRedisServer.start();
      env["REDIS_URL"] = redisServer.url;
      env["REDIS_PREFIX"] = `test${randomUUID().slice(0, 8)}`;
      env["JOB_PROCESSES"] = "2";
    }
    server = await BackplaneProcess.start({ webWorkers: 2, env });
    if (redis)
      await server.waitFor(
        () => server.count((line) => line.msg === "sweep workers ready") >= 2,
        30_000,
        "two job processes",
      );
  });

  afterAll(async () => {
    for (const socket of sockets) socket.close();
    if (server !== undefined) expect(await server.stop()).toBe(0);
    await redisServer?.dispose();
  });

  it.skipIf(redis && !hasRedis)("ranks a grid and matches a single backtest", async () => {
    const id = await submitSweep(server.url, GOOG_SWEEP);
    const snapshot = await waitForSweep(server.url, id);
    expect(snapshot.state).toBe("completed");
    expect(snapshot.progress).toEqual({ processed: 66, total: 66, percent: 100 });

    const summary = snapshot.result?.sweep;
    if (summary === undefined) throw new Error("the result has no sweep summary");
    expect(summary).toMatchObject({ rankBy: "sharpe", order: "desc", combinations: 66, evaluated: 66, invalid: 0 });
    expect(summary.ranking).toHaveLength(66);
    expectRanked(summary.ranking, "sharpe", "desc");

    // The best combination, run as an ordinary backtest, gives the same statistics.
    const best = summary.ranking[0] as SweepEntry;
    const single = await callApi(server.url, "POST", "/api/backtests", {
      json: { dataset: "goog-daily", strategy: "sma-cross", params: best.params },
    });
    const backtest = await waitForBacktest(server.url, (single.body as { id: string }).id, ["completed"], 20_000);
    const stats: Record<string, unknown> = backtest.result?.stats ?? {};
    for (const [name, value] of Object.entries(best.stats)) expect(value, name).toBe(stats[name]);
    expect(snapshot.result?.stats).toEqual(stats);
    expect(snapshot.result?.trades).toEqual(backtest.result?.trades);

    const heatmap = await callApi(server.url, "GET", `/api/sweeps/${id}/heatmap?x=fast&y=slow&stat=sharpe`);
    expect(heatmap.status).toBe(200);
    const { x, y, z, aggregate } = heatmap.body as Heatmap;
    expect(x).toEqual([5, 6, 7, 8, 9, 10]);
    expect(y).toEqual([20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);
    expect(z).toHaveLength(11);
    for (const row of z) expect(row).toHaveLength(6);
    expect(z[y.indexOf(best.params["slow"] as number)]?.[x.indexOf(best.params["fast"] as number)]).toBe(
      best.stats["sharpe"],
    );
    expect(aggregate).toBeUndefined();

    const badAxis = await callApi(server.url, "GET", `/api/sweeps/${id}/heatmap?x=fast&y=period`);
    expect(badAxis.status).toBe(400);
    expect(badAxis.body).toMatchObject({ error: { code: "validation_failed", field: "y" } });
  });

  it.skipIf(redis && !hasRedis)("skips and counts invalid combinations", async () => {
    const id = await submitSweep(server.url, {
      ...GOOG_SWEEP,
      grid: { fast: [5, 25], slow: [10, 20, 50] },
      rankBy: "returnPct",
      order: "asc",
    });
    const snapshot = await waitForSweep(server.url, id);
    expect(snapshot.state).toBe("completed");

    const summary = snapshot.result?.sweep;
    expect(summary).toMatchObject({ rankBy: "returnPct", order: "asc", combinations: 6, evaluated: 4, invalid: 2 });
    expect(summary?.invalidExamples.map((example) => example.params)).toEqual([
      { fast: 25, slow: 10 },
      { fast: 25, slow: 20 },
    ]);
    expect(summary?.invalidExamples[0]?.reason).toMatch(/must be less than slow/);
    expectRanked(summary?.ranking ?? [], "returnPct", "asc");

    const heatmap = (await callApi(server.url, "GET", `/api/sweeps/${id}/heatmap?x=slow&y=fast`)).body as Heatmap;
    expect(heatmap.stat).toBe("returnPct");
    expect(heatmap.z[1]?.slice(0, 2)).toEqual([null, null]);
    expect(heatmap.z.flat().filter((cell) => cell !== null)).toHaveLength(4);
  });

  it.skipIf(redis && !hasRedis)("streams progress with the best to subscribers on both workers", async () => {
    const id = await submitSweep(server.url, BTC_SWEEP);

    // One after the other, so that least-connection balancing alternates between the workers.
    const subscribers: { events: BacktestEvent[]; reply: SubscribeReply }[] = [];
    for (let i = 0; i < 2; i += 1) {
      const socket = await connectHub(server.url, i === 0 ? ["websocket"] : ["polling"]);
      sockets.push(socket);
      const events = recordEvents(socket);
      const reply = await subscribe(socket, id);
      if ("error" in reply) throw new Error(reply.error.message);
      subscribers.push({ events, reply });
    }
    expect(new Set(subscribers.map(({ reply }) => reply.worker)).size).toBe(2);

    await eventually(
      () => (subscribers.every(({ events }) => events.some((event) => event.type === "completed")) ? true : undefined),
      60_000,
      "every subscriber to receive completed",
    );
    // Give late duplicates, if any, a moment to arrive before counting.
    await new Promise((resolve) => setTimeout(resolve, 300));

    const final = (await callApi(server.url, "GET", `/api/sweeps/${id}`)).body as BacktestSnapshot;
    for (const { events, reply } of subscribers) {
      expectExactlyOnce(events, reply.snapshot.seq);
      const progress = events.filter((event) => event.type === "progress");
      expect(progress.length).toBeGreaterThan(0);
      for (const event of progress) {
        expect(event.total).toBe(88);
        expect(event.best?.length).toBeGreaterThan(0);
        expect(event.best?.length).toBeLessThanOrEqual(5);
        expectRanked(event.best ?? [], "sharpe", "desc");
      }
      expect(progress.at(-1)?.processed).toBe(88);
      expect(events.at(-1)?.seq).toBe(final.seq);
    }

    const ranking = final.result?.sweep?.ranking ?? [];
    expect(final.best?.map((entry) => entry.index)).toEqual(ranking.slice(0, 5).map((entry) => entry.index));

    if (redis) {
      // The chunks ran in the job processes, spread over both of them.
      const queued = await server.waitForLog((line) => line.msg === "sweep queued" && line["sweepId"] === id);
      const done = server.lines.filter((line) => line.msg === "sweep chunk done" && line["sweepId"] === id);
      expect(done).toHaveLength(Number(queued["chunks"]));
      expect(new Set(done.map((line) => line.role))).toEqual(new Set(["jobs"]));
      expect(new Set(done.map((line) => line["pid"])).size).toBe(2);
    }
  });

  it.skipIf(redis && !hasRedis)("cancels a sweep from any worker", async () => {
    const id = await submitSweep(server.url, LONG_SWEEP);
    const socket = await connectHub(server.url, ["websocket"]);
    sockets.push(socket);
    const events = recordEvents(socket);
    const reply = await subscribe(socket, id);
    if ("error" in reply) throw new Error(reply.error.message);

    await eventually(
      () => (events.some((event) => event.type === "progress") ? true : undefined),
      30_000,
      "first progress",
    );
    const cancelled = await callApi(server.url, "DELETE", `/api/sweeps/${id}`);
    expect(cancelled.status).toBe(202);

    await eventually(
      () => (events.some((event) => event.type === "cancelled") ? true : undefined),
      10_000,
      "cancelled event",
    );
    // Chunks that were running when the cancel came must not emit anything after it.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expectExactlyOnce(events, reply.snapshot.seq, "cancelled");

    const snapshot = (await callApi(server.url, "GET", `/api/sweeps/${id}`)).body as BacktestSnapshot;
    expect(snapshot.state).toBe("cancelled");
    expect(snapshot.progress.processed).toBeLessThan(snapshot.progress.total);
    expect((await callApi(server.url, "DELETE", `/api/sweeps/${id}`)).status).toBe(409);
  });

  it.skipIf(redis && !hasRedis)("rejects invalid sweeps and unknown ids", async () => {
    const cases: { body: unknown; field: string }[] = [
      { body: { ...GOOG_SWEEP, grid: {} }, field: "grid" },
      { body: { ...GOOG_SWEEP, grid: { period: [5, 6] } }, field: "grid.period" },
      { body: { ...GOOG_SWEEP, grid: { fast: [30, 40], slow: [10, 20] } }, field: "grid" },
      { body: { ...GOOG_SWEEP, dataset: "no-such-dataset" }, field: "dataset" },
      { body: { ...GOOG_SWEEP, strategy: "no-such-strategy" }, field: "strategy" },
      { body: { ...GOOG_SWEEP, resample: "1h" }, field: "resample" },
      { body: { ...GOOG_SWEEP, cash: -5 }, field: "cash" },
      { body: { ...GOOG_SWEEP, rankBy: "luck" }, field: "rankBy" },
    ];
    for (const { body, field } of cases) {
      const reply = await callApi(server.url, "POST", "/api/sweeps", { json: body });
      expect(reply.status, JSON.stringify(body)).toBe(400);
      expect(reply.body, JSON.stringify(body)).toMatchObject({ error: { code: "validation_failed", field } });
    }

    const unknown = randomUUID();
    expect((await callApi(server.url, "GET", `/api/sweeps/${unknown}`)).status).toBe(404);
    expect((await callApi(server.url, "DELETE", `/api/sweeps/${unknown}`)).status).toBe(404);
    expect((await callApi(server.url, "GET", `/api/sweeps/${unknown}/heatmap?x=fast&y=slow`)).status).toBe(404);
  });
});

if (!hasRedis) console.warn(`Redis-mode sweep tests skipped: ${REDIS_SKIP_REASON}`);
