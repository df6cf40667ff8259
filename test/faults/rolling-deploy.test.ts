import { randomUUID } from "node:crypto";

import { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import type { BacktestClientOptions } from "../../src/client/backtest-client";
import type { BacktestSnapshot } from "../../src/hubs/backtest-events";
import { callApi, GOOG_BACKTEST } from "../support/api";
import { BackplaneProcess, type LogLine } from "../support/backplane";
import { NGINX_SKIP_REASON, TestNginx, nginxAvailable } from "../support/nginx";
import { REDIS_SKIP_REASON, TestRedisServer, redisServerAvailable } from "../support/redis-server";
import { instanceOf } from "../topology/client-addresses";
import {
  doneWithin,
  expectFollowedOnce,
  expectSameOutcome,
  followRecorded,
  progressBeyond,
  progressRestarted,
  type RecordedFollow,
} from "./recorded-follow";

const INSTANCE_IDS = ["deploy-a", "deploy-b"] as const;

/** About 7 s for the 2,149 bars of goog-daily, so the SIGTERM lands mid-run. */
const PACED_BACKTEST = { ...GOOG_BACKTEST, barsPerSecond: 300 };

const SHUTDOWN_TIMEOUT_MS = 8_000;

/**
 * Time between sending SIGTERM and seeing the primary's exit beyond SHUTDOWN_TIMEOUT_MS: the
 * primary's forced exit, the reaping of its children and a loaded machine.
 */
const EXIT_MARGIN_MS = 3_000;

/** Shrunk BullMQ timing, so that a job whose process was killed is handed over within seconds. */
const BULLMQ_TIMING = { LOCK_DURATION_MS: "3000", STALLED_INTERVAL_MS: "1000" };

/** Bound for the backtest to finish after the deploy on a loaded 2-core machine. */
const DONE_TIMEOUT_MS = 90_000;

const available = redisServerAvailable() && nginxAvailable();
const skipReason = [redisServerAvailable() ? "" : REDIS_SKIP_REASON, nginxAvailable() ? "" : NGINX_SKIP_REASON]
  .filter((reason) => reason !== "")
  .join("; ");

/** Returns the lines that a shutdown logs when it runs into its timeout and forces the exit. */
function forcedExits(instance: BackplaneProcess): LogLine[] {
  return instance.lines.filter((line) => line.msg === "shutdown timed out; forcing exit");
}

function startedIn(instance: BackplaneProcess, id: string): number {
  return instance.count((line) => line.role === "jobs" && line.msg === "backtest started" && line["backtestId"] === id);
}

/** Sends SIGTERM to an instance's primary and returns its exit code and how long the exit took. */
async function terminate(instance: BackplaneProcess): Promise<{ code: number | null; elapsedMs: number }> {
  const startedAt = Date.now();
  const code = await instance.stop("SIGTERM");
  return { code, elapsedMs: Date.now() - startedAt };
}

/**
 * A rolling deploy of two instances behind nginx: one instance gets SIGTERM while a backtest
 * runs. Clients follow through nginx with WebSocket only, as behind CapRover with more than one
 * instance, so a client whose instance leaves reconnects through nginx to the other one.
 */
describe.skipIf(!available)("rolling deploy of two instances behind nginx", () => {
  let redis: TestRedisServer;
  let instances: BackplaneProcess[] = [];
  let nginx: TestNginx;
  const follows: RecordedFollow[] = [];

  beforeEach(async () => {
    redis = await TestRedisServer.start({ appendOnly: true });
    const env = {
      REDIS_URL: redis.url,
      REDIS_PREFIX: `test${randomUUID().slice(0, 8)}`,
      JOB_PROCESSES: "1",
      SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      ...BULLMQ_TIMING,
    };
    instances = await Promise.all(
      INSTANCE_IDS.map((id) => BackplaneProcess.start({ webWorkers: 2, env: { ...env, INSTANCE_ID: id } })),
    );
    for (const instance of instances) await instance.waitForLog((line) => line.msg === "job process ready", 30_000);
    nginx = await TestNginx.start({ upstreams: instances.map((instance) => `127.0.0.1:${instance.port}`) });
  }, 120_000);

  afterEach(async () => {
    for (const { client } of follows.splice(0)) client.close();
    await nginx?.stop();
    const codes = await Promise.all(instances.map((instance) => instance.stop()));
    await redis?.dispose();
    expect(codes).toEqual(instances.map(() => 0));
  }, 60_000);

  function idOf(instance: BackplaneProcess): string {
    return INSTANCE_IDS[instances.indexOf(instance)] ?? "";
  }

  /**
   * Submits a paced backtest through nginx and follows it from new clients until both instances
   * serve at least one. Returns the follows and the instance whose job process runs the backtest.
   */
  async function followOnBothInstances(clientOptions: Partial<BacktestClientOptions> = {}) {
    const submitted = await callApi(nginx.url, "POST", "/api/backtests", { json: PACED_BACKTEST });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    const id = (submitted.body as { id: string }).id;

    const subscribers: RecordedFollow[] = [];
    const served = () => new Set(subscribers.map(({ follow }) => instanceOf(follow.worker)));
    for (let attempt = 0; attempt < 6 && served().size < INSTANCE_IDS.length; attempt += 1) {
      const subscriber = followRecorded({ url: nginx.url, transports: ["websocket"], ...clientOptions }, id);
      follows.push(subscriber);
      subscribers.push(subscriber);
      await progressBeyond(subscriber, 100, 30_000);
    }
    expect([...served()].sort()).toEqual([...INSTANCE_IDS]);

    let runner: BackplaneProcess | undefined;
    const deadline = Date.now() + 30_000;
    while (runner === undefined && Date.now() < deadline) {
      runner = instances.find((instance) => startedIn(instance, id) > 0);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (runner === undefined) throw new Error(`no job process logged the start of backtest ${id}`);
    const other = instances.find((instance) => instance !== runner) as BackplaneProcess;
    return { id, subscribers, runner, other };
  }

  /** Checks every subscriber ended with the one completed result that REST returns through nginx. */
  async function expectAllCompleted(id: string, subscribers: RecordedFollow[]): Promise<BacktestSnapshot[]> {
    const finals: BacktestSnapshot[] = [];
    for (const subscriber of subscribers) finals.push(await doneWithin(subscriber, DONE_TIMEOUT_MS));
    const rest = await callApi(nginx.url, "GET", `/api/backtests/${id}`);
    expect(rest.status).toBe(200);
    for (const [i, subscriber] of subscribers.entries()) {
      const final = finals[i] as BacktestSnapshot;
      expect(final.state).toBe("completed");
      expect(final.result?.stats.trades).toBe(66);
      expectFollowedOnce(subscriber, final);
      expectSameOutcome(rest.body as BacktestSnapshot, final);
    }
    return finals;
  }

  /** Checks that the subscribers of the stopped instance reconnected and ended on the other one. */
  function expectMovedOff(subscribers: RecordedFollow[], stoppedId: string): void {
    const survivorId = INSTANCE_IDS.find((instanceId) => instanceId !== stoppedId);
    const moved = subscribers.filter(({ timeline }) => instanceOf(timeline[0]?.worker) === stoppedId);
    expect(moved.length, `no subscriber started on ${stoppedId}`).toBeGreaterThanOrEqual(1);
    for (const { follow } of moved) {
      expect(follow.counters.reconnects).toBeGreaterThanOrEqual(1);
      expect(instanceOf(follow.worker)).toBe(survivorId);
    }
  }

  it("drains the instance that runs the backtest", { timeout: 180_000 }, async () => {
    const { id, subscribers, runner, other } = await followOnBothInstances();
    const runnerId = idOf(runner);

    const { code, elapsedMs } = await terminate(runner);
    expect(code).toBe(0);
    expect(elapsedMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
    expect(forcedExits(runner)).toEqual([]);

    // The job process put the running backtest back in the wait list, and the other instance
    // ran it again from the start.
    expect(
      runner.count(
        (line) => line.msg === "backtest handed back to the queue for another job process" && line["backtestId"] === id,
      ),
    ).toBe(1);
    await expectAllCompleted(id, subscribers);
    expect(startedIn(other, id)).toBe(1);
    // A subscriber that stayed connected saw the progress start again. One that moved may have
    // come back after the rerun passed the point where it left, so it need not see that.
    const stayed = subscribers.filter(({ timeline }) => instanceOf(timeline[0]?.worker) !== runnerId);
    expect(stayed.length).toBeGreaterThanOrEqual(1);
    for (const subscriber of stayed) expect(progressRestarted(subscriber)).toBe(true);
    expectMovedOff(subscribers, runnerId);
  });

  it("moves the clients of a stopped instance that runs no backtest", { timeout: 180_000 }, async () => {
    const { id, subscribers, runner, other } = await followOnBothInstances();
    const otherId = idOf(other);

    const { code, elapsedMs } = await terminate(other);
    expect(code).toBe(0);
    expect(elapsedMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
    expect(forcedExits(other)).toEqual([]);

    // The backtest went on where it was, without a restart.
    await expectAllCompleted(id, subscribers);
    expect(startedIn(runner, id)).toBe(1);
    for (const subscriber of subscribers) expect(progressRestarted(subscriber)).toBe(false);
    expectMovedOff(subscribers, otherId);
  });

  it("bounds the shutdown while Redis is down", { timeout: 180_000 }, async () => {
    // Subscribers that reconnect during the outage get `unavailable` on every subscribe until
    // Redis is back; the client's default retries (60, a second apart) outlast it.
    const { id, subscribers, runner, other } = await followOnBothInstances();
    const runnerId = idOf(runner);

    const admin = new Redis({ host: "127.0.0.1", port: redis.port, lazyConnect: true, retryStrategy: () => null });
    await admin.connect();
    await admin.call("SHUTDOWN").catch(() => undefined);
    admin.disconnect();
    await redis.stop();

    // The job process can neither move the backtest back to the wait list nor close its BullMQ
    // worker without Redis, so the shutdown runs into its timeout. The primary then kills what is
    // left and still exits 0.
    const { code, elapsedMs } = await terminate(runner);
    expect(code).toBe(0);
    expect(elapsedMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS + EXIT_MARGIN_MS);

    // Back with its append-only file, Redis still has the job. Its lock expires, and the other
    // instance's stalled check hands it over.
    await redis.launch();
    await expectAllCompleted(id, subscribers);
    expect(startedIn(other, id)).toBe(1);
    expectMovedOff(subscribers, runnerId);
    // Regression: the job process logged the hand-back before moveToWait(), which never
    // completed without Redis.
    expect(runner.count((line) => line.msg === "backtest handed back to the queue for another job process")).toBe(0);
  });
});

if (!available) console.warn(`rolling deploy tests skipped: ${skipReason}`);
