import { randomUUID } from "node:crypto";

import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";

import type { BacktestSnapshot } from "../../src/hubs/backtest-events";
import { callApi, GOOG_BACKTEST, pollUntil } from "../support/api";
import { BackplaneProcess, type LogLine } from "../support/backplane";
import { REDIS_SKIP_REASON, TestRedisServer, redisServerAvailable } from "../support/redis-server";
import {
  doneWithin,
  expectFollowedOnce,
  expectSameOutcome,
  followRecorded,
  progressBeyond,
  type RecordedFollow,
} from "./recorded-follow";

/** About 14 s for the 2,149 bars of goog-daily, so the backtest outlasts the outage. */
const PACED_BACKTEST = { ...GOOG_BACKTEST, barsPerSecond: 150 };

/** Hang guard for a request that must fail fast while Redis is down; not a performance claim. */
const FAIL_FAST_LIMIT_MS = 5_000;

/**
 * How long Redis stays down: long enough that the job process keeps running bars and queueing
 * events for the whole outage, and that every client goes through at least one failed retry.
 */
const OUTAGE_MS = 3_000;

/**
 * The Redis clients retry after 1 s, 2 s, 4 s, 8 s and so on (reconnectDelayMs in
 * src/redis/clients.ts), so they reach a Redis that is back after a few seconds within about
 * 15 s. The rest is margin for a loaded machine.
 */
const RECOVERY_TIMEOUT_MS = 60_000;

const redisAvailable = redisServerAvailable();

/** Lines that would mean a process crashed or shut down, which a Redis outage must not cause. */
function crashLines(backplane: BackplaneProcess): LogLine[] {
  const crashes = new Set(["child died; respawning", "fatal error; shutting down", "shutting down"]);
  return backplane.lines.filter((line) => crashes.has(String(line.msg)) || (line.level ?? 0) >= 60);
}

/** Stops Redis as an operator would, with SHUTDOWN, which writes the append-only file first. */
async function shutdownRedis(server: TestRedisServer): Promise<void> {
  const client = new Redis({ host: "127.0.0.1", port: server.port, lazyConnect: true, retryStrategy: () => null });
  await client.connect();
  // The server closes the connection instead of replying.
  await client.call("SHUTDOWN").catch(() => undefined);
  client.disconnect();
  await server.stop();
}

async function readiness(backplane: BackplaneProcess): Promise<number> {
  return (await callApi(backplane.url, "GET", "/readyz")).status;
}

describe.skipIf(!redisAvailable)("Redis restarted mid-backtest", () => {
  let redis: TestRedisServer | undefined;
  let backplane: BackplaneProcess | undefined;
  const follows: RecordedFollow[] = [];

  afterEach(async () => {
    for (const { client } of follows.splice(0)) client.close();
    const code = await backplane?.stop();
    await redis?.dispose();
    backplane = undefined;
    redis = undefined;
    expect(code).toBe(0);
  });

  /** Starts Redis with append-only persistence, one instance, a paced backtest and two subscribers. */
  async function startFollowedBacktest() {
    redis = await TestRedisServer.start({ appendOnly: true });
    backplane = await BackplaneProcess.start({
      webWorkers: 2,
      env: { REDIS_URL: redis.url, REDIS_PREFIX: `test${randomUUID().slice(0, 8)}`, JOB_PROCESSES: "1" },
    });
    const instance = backplane;
    await instance.waitForLog((line) => line.msg === "job process ready", 30_000);
    const webWorkers = instance.webWorkerPids();

    const submitted = await callApi(instance.url, "POST", "/api/backtests", { json: PACED_BACKTEST });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    const id = (submitted.body as { id: string }).id;

    // One after the other, so that least-connection balancing puts them on the two web workers.
    const subscribers = [0, 1].map(() => followRecorded({ url: instance.url, transports: ["websocket"] }, id));
    follows.push(...subscribers);
    for (const subscriber of subscribers) await progressBeyond(subscriber, 150, 30_000);
    return { redis, instance, id, subscribers, webWorkers };
  }

  it("recovers from SHUTDOWN and a restart", { timeout: 180_000 }, async () => {
    const { redis: server, instance, id, subscribers, webWorkers } = await startFollowedBacktest();

    await shutdownRedis(server);
    const outageStartedAt = Date.now();

    await pollUntil(async () => ((await readiness(instance)) === 503 ? true : undefined), {
      timeoutMs: 20_000,
      what: "/readyz to answer 503 while Redis is down",
    });
    const duringOutage = await callApi(instance.url, "POST", "/api/backtests", { json: GOOG_BACKTEST });
    expect(duringOutage.status, JSON.stringify(duringOutage.body)).toBe(503);
    expect((duringOutage.body as { error: { code: string } }).error.code).toBe("unavailable");
    expect(duringOutage.elapsedMs).toBeLessThan(FAIL_FAST_LIMIT_MS);

    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS - (Date.now() - outageStartedAt)));
    await server.launch();

    // /readyz returns 200 again once the web worker's producer connection is back.
    await pollUntil(async () => ((await readiness(instance)) === 200 ? true : undefined), {
      timeoutMs: RECOVERY_TIMEOUT_MS,
      what: "/readyz to answer 200 after Redis restarted",
    });

    for (const subscriber of subscribers) {
      const final = await doneWithin(subscriber, RECOVERY_TIMEOUT_MS);
      expect(final.state).toBe("completed");
      expect(final.result?.stats.trades).toBe(66);
      expectFollowedOnce(subscriber, final);
      const rest = await callApi(instance.url, "GET", `/api/backtests/${id}`);
      expectSameOutcome(rest.body as BacktestSnapshot, final);
    }

    // Jobs are accepted again, and nothing crashed: the same web workers serve.
    const after = await callApi(instance.url, "POST", "/api/backtests", { json: GOOG_BACKTEST });
    expect(after.status, JSON.stringify(after.body)).toBe(202);
    expect(crashLines(instance)).toEqual([]);
    expect(instance.webWorkerPids()).toEqual(webWorkers);
  });

  it("recovers from SIGKILL and a restart", { timeout: 180_000 }, async () => {
    const { redis: server, instance, id, subscribers, webWorkers } = await startFollowedBacktest();

    // A crash of the server process: commands in flight get no reply, and ioredis sends them again
    // after the reconnect.
    await server.kill();
    const outageStartedAt = Date.now();
    await pollUntil(async () => ((await readiness(instance)) === 503 ? true : undefined), {
      timeoutMs: 20_000,
      what: "/readyz to answer 503 while Redis is down",
    });
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS - (Date.now() - outageStartedAt)));
    await server.launch();

    // Every subscriber ends with a terminal event that REST agrees with. `completed` is expected,
    // and `failed` with a reason is accepted too, for a job that BullMQ gives up after the crash.
    const rest = await pollUntil(
      async () => {
        const reply = await callApi(instance.url, "GET", `/api/backtests/${id}`);
        const snapshot = reply.body as BacktestSnapshot;
        return reply.status === 200 && ["completed", "failed"].includes(snapshot.state) ? snapshot : undefined;
      },
      { timeoutMs: RECOVERY_TIMEOUT_MS, what: `backtest ${id} to end after Redis restarted` },
    );
    for (const subscriber of subscribers) {
      const final = await doneWithin(subscriber, RECOVERY_TIMEOUT_MS);
      expect(subscriber.terminalCalls).toHaveLength(1);
      expect(final.state).toBe(rest.state);
      if (final.state === "completed") expect(final.result?.stats.trades).toBe(66);
      if (final.state === "failed") expect(final.error?.message).toMatch(/\S/);
      expectSameOutcome(rest, final);
    }

    expect(crashLines(instance)).toEqual([]);
    expect(instance.webWorkerPids()).toEqual(webWorkers);
  });

  it("resends what a dropped relay connection missed", { timeout: 180_000 }, async () => {
    const { redis: server, instance, id, subscribers } = await startFollowedBacktest();

    // Only the subscriber connections drop: the relays' and the socket.io adapters'. The job
    // process goes on publishing while the relays wait a second to reconnect, so those events
    // are lost for good, and each relay re-emits the snapshot once it is back.
    const admin = new Redis({ host: "127.0.0.1", port: server.port, lazyConnect: true, retryStrategy: () => null });
    await admin.connect();
    const killed = Number(await admin.call("CLIENT", "KILL", "TYPE", "pubsub"));
    admin.disconnect();
    expect(killed).toBeGreaterThanOrEqual(2);

    for (const subscriber of subscribers) {
      const final = await doneWithin(subscriber, RECOVERY_TIMEOUT_MS);
      expect(final.state).toBe("completed");
      expectFollowedOnce(subscriber, final);
      // The gap made the follow subscribe again for a fresh snapshot; its socket never broke.
      expect(subscriber.follow.counters.resyncs).toBeGreaterThanOrEqual(1);
      expect(subscriber.follow.counters.reconnects).toBe(0);
      const rest = await callApi(instance.url, "GET", `/api/backtests/${id}`);
      expectSameOutcome(rest.body as BacktestSnapshot, final);
    }
    expect(
      instance.count((line) => line.msg === "resynchronising followed backtests after Redis reconnect"),
    ).toBeGreaterThanOrEqual(2);
    expect(crashLines(instance)).toEqual([]);
  });
});

if (!redisAvailable) console.warn(`Redis restart fault tests skipped: ${REDIS_SKIP_REASON}`);
