import { randomUUID } from "node:crypto";

import { afterEach, describe, expect, it } from "vitest";

import type { BacktestSnapshot } from "../../src/hubs/backtest-events";
import { callApi, GOOG_BACKTEST } from "../support/api";
import { BackplaneProcess, type LogLine } from "../support/backplane";
import { errorLines } from "../support/process-tree";
import { REDIS_SKIP_REASON, TestRedisServer, redisServerAvailable } from "../support/redis-server";
import {
  doneWithin,
  expectFollowedOnce,
  expectSameOutcome,
  followRecorded,
  progressBeyond,
  progressRestarted,
  type RecordedFollow,
} from "./recorded-follow";

/** About 5 s for the 2,149 bars of goog-daily, so the kill lands mid-run. */
const PACED_BACKTEST = { ...GOOG_BACKTEST, barsPerSecond: 400 };

/**
 * Shrunk BullMQ timing: a dead job process's lock expires after 3 s and the stalled check runs
 * every second, so the job is handed over within a few seconds instead of a minute. BullMQ renews
 * a lock every half lock duration, so a live job keeps its lock through a renewal 1.5 s late.
 */
const BULLMQ_TIMING = { LOCK_DURATION_MS: "3000", STALLED_INTERVAL_MS: "1000" };

/** Bound for the handover and the rerun on a loaded 2-core machine; about 12 s when idle. */
const DONE_TIMEOUT_MS = 90_000;

const redisAvailable = redisServerAvailable();

function jobProcessPids(backplane: BackplaneProcess): number[] {
  return backplane.lines
    .filter((line) => line.role === "jobs" && line.msg === "job process ready")
    .map((line) => Number(line["pid"]));
}

function startedLines(backplane: BackplaneProcess, id: string): LogLine[] {
  return backplane.lines.filter(
    (line) => line.role === "jobs" && line.msg === "backtest started" && line["backtestId"] === id,
  );
}

describe.skipIf(!redisAvailable)("job process killed mid-backtest", () => {
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

  it("hands the job to the respawned job process", { timeout: 150_000 }, async () => {
    redis = await TestRedisServer.start();
    backplane = await BackplaneProcess.start({
      webWorkers: 2,
      env: {
        REDIS_URL: redis.url,
        REDIS_PREFIX: `test${randomUUID().slice(0, 8)}`,
        JOB_PROCESSES: "1",
        ...BULLMQ_TIMING,
      },
    });
    const instance = backplane;
    await instance.waitForLog((line) => line.msg === "job process ready", 30_000);

    const submitted = await callApi(instance.url, "POST", "/api/backtests", { json: PACED_BACKTEST });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    const id = (submitted.body as { id: string }).id;

    // Two subscribers, one after the other, so that they sit on the two web workers.
    const subscribers = [0, 1].map(() => followRecorded({ url: instance.url, transports: ["websocket"] }, id));
    follows.push(...subscribers);
    for (const subscriber of subscribers) await progressBeyond(subscriber, 200, 30_000);

    const [first] = await pollStarted(instance, id, 1);
    const victim = Number(first?.["pid"]);
    expect(jobProcessPids(instance)).toEqual([victim]);
    process.kill(victim, "SIGKILL");

    const finals: BacktestSnapshot[] = [];
    for (const subscriber of subscribers) finals.push(await doneWithin(subscriber, DONE_TIMEOUT_MS));

    const rest = await callApi(instance.url, "GET", `/api/backtests/${id}`);
    expect(rest.status).toBe(200);
    for (const [i, subscriber] of subscribers.entries()) {
      const final = finals[i] as BacktestSnapshot;
      expect(final.state).toBe("completed");
      expect(final.result?.stats.trades).toBe(66);
      expectFollowedOnce(subscriber, final);
      expectSameOutcome(rest.body as BacktestSnapshot, final);
      // The replacement ran the backtest from its first bar, and the subscribers saw it restart.
      expect(progressRestarted(subscriber)).toBe(true);
      // No socket broke: the web workers relayed the rerun without a reconnect.
      expect(subscriber.follow.counters.reconnects).toBe(0);
    }

    // The primary respawned the job process, whose stalled check found the job and ran it again.
    const died = await instance.waitForLog(
      (line) => line.msg === "child died; respawning" && line["childPid"] === victim,
    );
    expect(died["child"]).toBe("jobs");
    expect(died["signal"]).toBe("SIGKILL");
    const started = startedLines(instance, id);
    expect(started).toHaveLength(2);
    expect(Number(started[1]?.["pid"])).not.toBe(victim);
    expect(jobProcessPids(instance)).toContain(Number(started[1]?.["pid"]));
    expect(
      instance.count(
        (line) => line.msg === "backtest stalled; its job process died or froze" && line["backtestId"] === id,
      ),
    ).toBe(1);
    expect(errorLines(instance).filter((line) => line.msg !== "child died; respawning")).toEqual([]);
  });

  it("hands the job to a second job process of the same instance", { timeout: 150_000 }, async () => {
    redis = await TestRedisServer.start();
    backplane = await BackplaneProcess.start({
      webWorkers: 2,
      env: {
        REDIS_URL: redis.url,
        REDIS_PREFIX: `test${randomUUID().slice(0, 8)}`,
        JOB_PROCESSES: "2",
        // The killed process stays dead for the whole test, so only the other one can rerun the job.
        RESPAWN_BACKOFF_MS: "600000",
        ...BULLMQ_TIMING,
      },
    });
    const instance = backplane;
    await instance.waitFor(() => jobProcessPids(instance).length >= 2, 30_000, "2 job processes ready");

    const submitted = await callApi(instance.url, "POST", "/api/backtests", { json: PACED_BACKTEST });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    const id = (submitted.body as { id: string }).id;
    const subscriber = followRecorded({ url: instance.url, transports: ["websocket"] }, id);
    follows.push(subscriber);
    await progressBeyond(subscriber, 200, 30_000);

    const [first] = await pollStarted(instance, id, 1);
    const victim = Number(first?.["pid"]);
    process.kill(victim, "SIGKILL");

    const final = await doneWithin(subscriber, DONE_TIMEOUT_MS);
    expect(final.state).toBe("completed");
    expectFollowedOnce(subscriber, final);
    expect(progressRestarted(subscriber)).toBe(true);
    const rest = await callApi(instance.url, "GET", `/api/backtests/${id}`);
    expectSameOutcome(rest.body as BacktestSnapshot, final);

    const started = startedLines(instance, id);
    expect(started).toHaveLength(2);
    const survivor = jobProcessPids(instance).find((pid) => pid !== victim);
    expect(Number(started[1]?.["pid"])).toBe(survivor);
  });
});

/** Waits until the job processes logged `count` starts of backtest `id`, and returns those lines. */
async function pollStarted(backplane: BackplaneProcess, id: string, count: number): Promise<LogLine[]> {
  await backplane.waitFor(() => startedLines(backplane, id).length >= count, 30_000, `${count} starts of ${id}`);
  return startedLines(backplane, id);
}

if (!redisAvailable) console.warn(`job process fault tests skipped: ${REDIS_SKIP_REASON}`);
