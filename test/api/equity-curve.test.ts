import { randomUUID } from "node:crypto";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { BacktestSnapshot } from "../../src/hubs/backtest-events";
import { GOOG_BACKTEST, callApi, waitForBacktest, type ApiReply } from "../support/api";
import { BackplaneProcess } from "../support/backplane";
import { connectHub, type HubSocket } from "../support/hub-client";
import { REDIS_SKIP_REASON, TestRedisServer, redisServerAvailable } from "../support/redis-server";

/** Bars of goog-daily, more than the 2,000 points that a result keeps. */
const GOOG_BARS = 2_148;
/** `equityFinal` and `equityPeak` of goog-daily sma-cross 10/30, as the engine's tests pin them. */
const GOOG_EQUITY_FINAL = 51422.98999999996;
const GOOG_EQUITY_PEAK = 75787.44;

interface EquityBody {
  id: string;
  points: number;
  time: number[];
  equity: number[];
  drawdownPct: number[];
}

/** The downsampled curve inside a backtest result. */
interface ResultCurve {
  time: string[];
  equity: number[];
  drawdownPct: number[];
}

interface Mode {
  name: string;
  redis: boolean;
}

const hasRedis = redisServerAvailable();

function expectClose(actual: number | undefined, expected: number, name: string): void {
  if (actual === undefined) throw new Error(`${name} is missing`);
  expect(Math.abs(actual - expected) / Math.abs(expected), `${name}: ${actual} vs ${expected}`).toBeLessThan(1e-9);
}

async function submit(baseUrl: string, body: unknown): Promise<string> {
  const reply = await callApi(baseUrl, "POST", "/api/backtests", { json: body });
  expect(reply.status, JSON.stringify(reply.body)).toBe(202);
  return (reply.body as { id: string }).id;
}

describe.each<Mode>([
  { name: "single-host mode", redis: false },
  { name: hasRedis ? "Redis mode" : `Redis mode (skipped: ${REDIS_SKIP_REASON})`, redis: true },
])("GET /api/backtests/:id/equity in $name", ({ redis }) => {
  let redisServer: TestRedisServer | undefined;
  let server: BackplaneProcess;
  const sockets: HubSocket[] = [];
  const skip = redis && !hasRedis;

  beforeAll(async () => {
    if (skip) return;
    const env: Record<string, string> = {};
    if (redis) {
      redisServer = await TestRedisServer.start();
      env["REDIS_URL"] = redisServer.url;
      env["REDIS_PREFIX"] = `test${randomUUID().slice(0, 8)}`;
    }
    server = await BackplaneProcess.start({ webWorkers: 2, env });
    if (redis) await server.waitForLog((line) => line.msg === "job process ready", 30_000);
  });

  afterAll(async () => {
    for (const socket of sockets) socket.close();
    if (server !== undefined) expect(await server.stop()).toBe(0);
    await redisServer?.dispose();
  });

  it.skipIf(skip)("returns every bar of a completed backtest", async () => {
    const id = await submit(server.url, GOOG_BACKTEST);
    const snapshot: BacktestSnapshot = await waitForBacktest(server.url, id, ["completed", "failed"], 30_000);
    expect(snapshot.state, JSON.stringify(snapshot.error)).toBe("completed");

    const reply = await callApi(server.url, "GET", `/api/backtests/${id}/equity`);
    expect(reply.status, JSON.stringify(reply.body).slice(0, 500)).toBe(200);
    const full = reply.body as EquityBody;
    expect(full.id).toBe(id);
    expect(full.points).toBe(GOOG_BARS);
    expect(full.time).toHaveLength(GOOG_BARS);
    expect(full.equity).toHaveLength(GOOG_BARS);
    expect(full.drawdownPct).toHaveLength(GOOG_BARS);

    // The re-run reproduces the statistics of the original run.
    const stats: Record<string, unknown> = snapshot.result?.stats ?? {};
    expect(stats["equityFinal"]).toBeTypeOf("number");
    expectClose(stats["equityFinal"] as number, GOOG_EQUITY_FINAL, "result equityFinal");
    expectClose(full.equity.at(-1), stats["equityFinal"] as number, "last equity");
    expectClose(Math.max(...full.equity), stats["equityPeak"] as number, "max equity");
    expectClose(Math.max(...full.equity), GOOG_EQUITY_PEAK, "max equity");

    // Every point of the downsampled curve is the full curve's point at the same bar time.
    const downsampled = snapshot.result?.equity as ResultCurve;
    expect(downsampled.time.length).toBeLessThanOrEqual(2_000);
    expect(downsampled.time.length).toBeLessThan(GOOG_BARS);
    const barOf = new Map(full.time.map((time, bar) => [time, bar]));
    downsampled.time.forEach((iso, k) => {
      const bar = barOf.get(Date.parse(iso));
      expect(bar, `time ${iso} in the full curve`).toBeDefined();
      expect(full.equity[bar as number], `equity at ${iso}`).toBe(downsampled.equity[k]);
      expect(full.drawdownPct[bar as number], `drawdown at ${iso}`).toBe(downsampled.drawdownPct[k]);
    });
  });

  // In single-host mode only the web worker that ran a backtest keeps its request; the others
  // must fetch it over the cluster adapter. Sockets opened in between move the next request
  // to the other web worker, because the balancer picks the one with the fewest connections.
  it.skipIf(skip)("answers alike from every web worker", async () => {
    const id = await submit(server.url, GOOG_BACKTEST);
    await waitForBacktest(server.url, id, ["completed"], 30_000);

    const replies: ApiReply[] = [];
    for (let i = 0; i < 4; i += 1) {
      replies.push(await callApi(server.url, "GET", `/api/backtests/${id}/equity`));
      sockets.push(await connectHub(server.url, ["websocket"]));
    }
    expect(new Set(replies.map((reply) => reply.worker)).size).toBe(2);
    for (const reply of replies) {
      expect(reply.status).toBe(200);
      expect(reply.body).toEqual(replies[0]?.body);
    }
  });

  it.skipIf(skip)("returns 404 for an unknown id", async () => {
    const id = randomUUID();
    const reply = await callApi(server.url, "GET", `/api/backtests/${id}/equity`);
    expect(reply.status).toBe(404);
    expect((reply.body as { error: { code: string } }).error.code).toBe("not_found");
  });

  it.skipIf(skip)("returns 409 while the backtest runs", async () => {
    // 100 bars per second keeps the 2,148 bars running for about 20 s.
    const id = await submit(server.url, { ...GOOG_BACKTEST, barsPerSecond: 100 });
    await waitForBacktest(server.url, id, ["running"], 15_000);

    const reply = await callApi(server.url, "GET", `/api/backtests/${id}/equity`);
    expect(reply.status).toBe(409);
    const error = (reply.body as { error: { code: string; message: string } }).error;
    expect(error.code).toBe("conflict");
    expect(error.message).toContain("running");

    const cancel = await callApi(server.url, "DELETE", `/api/backtests/${id}`);
    expect(cancel.status).toBe(202);
  });
});
