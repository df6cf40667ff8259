import { randomUUID } from "node:crypto";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { TransportName } from "../../src/client/backtest-client";
import type { BacktestSnapshot } from "../../src/hubs/backtest-events";
import { callApi, GOOG_BACKTEST } from "../support/api";
import { BackplaneProcess } from "../support/backplane";
import { errorLines } from "../support/process-tree";
import { REDIS_SKIP_REASON, TestRedisServer, redisServerAvailable } from "../support/redis-server";
import {
  doneWithin,
  expectFollowedOnce,
  expectSameOutcome,
  followRecorded,
  progressBeyond,
  type RecordedFollow,
} from "./recorded-follow";

/** About 7 s for the 2,149 bars of goog-daily, so the kill lands mid-run. */
const PACED_BACKTEST = { ...GOOG_BACKTEST, barsPerSecond: 300 };

/** Bound for the backtest to finish after the kill on a loaded 2-core machine; about 6 s when idle. */
const DONE_TIMEOUT_MS = 60_000;

const redisAvailable = redisServerAvailable();

describe.skipIf(!redisAvailable)("web worker killed under a follow", () => {
  let redis: TestRedisServer;
  let backplane: BackplaneProcess;
  const follows: RecordedFollow[] = [];

  beforeAll(async () => {
    redis = await TestRedisServer.start();
    backplane = await BackplaneProcess.start({
      webWorkers: 2,
      env: { REDIS_URL: redis.url, REDIS_PREFIX: `test${randomUUID().slice(0, 8)}`, JOB_PROCESSES: "1" },
    });
    await backplane.waitForLog((line) => line.msg === "job process ready", 30_000);
  }, 60_000);

  afterAll(async () => {
    for (const { client } of follows) client.close();
    const code = await backplane?.stop();
    await redis?.dispose();
    expect(code).toBe(0);
  });

  it.each<TransportName[]>([["websocket"], ["polling"]])(
    "reconnects and finishes once over %s",
    { timeout: 120_000 },
    async (transport) => {
      const submitted = await callApi(backplane.url, "POST", "/api/backtests", { json: PACED_BACKTEST });
      expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
      const id = (submitted.body as { id: string }).id;

      const recorded = followRecorded({ url: backplane.url, transports: [transport] }, id);
      follows.push(recorded);
      await progressBeyond(recorded, 200, 30_000);

      // The ack's `worker` is <instance id>/<pid> of the web worker that serves this socket.
      const killedLabel = recorded.follow.worker;
      const victim = Number(killedLabel?.split("/")[1]);
      expect(backplane.webWorkerPids()).toContain(victim);
      process.kill(victim, "SIGKILL");

      const final = await doneWithin(recorded, DONE_TIMEOUT_MS);
      expect(final.state).toBe("completed");
      expect(final.result?.stats.trades).toBe(66);
      expect(recorded.follow.counters.reconnects).toBeGreaterThanOrEqual(1);
      // The follow went on from another web worker: the survivor or the replacement.
      expect(recorded.follow.worker).not.toBe(killedLabel);
      expect(recorded.timeline.some((entry) => entry.kind === "progress" && entry.worker !== killedLabel)).toBe(true);
      expectFollowedOnce(recorded, final);

      const rest = await callApi(backplane.url, "GET", `/api/backtests/${id}`);
      expect(rest.status).toBe(200);
      expectSameOutcome(rest.body as BacktestSnapshot, final);

      // The primary replaced the killed worker, and nothing else died.
      const died = await backplane.waitForLog(
        (line) => line.msg === "child died; respawning" && line["childPid"] === victim,
      );
      expect(died["signal"]).toBe("SIGKILL");
      const unexpected = errorLines(backplane).filter((line) => line.msg !== "child died; respawning");
      expect(unexpected).toEqual([]);
    },
  );
});

if (!redisAvailable) console.warn(`web worker fault tests skipped: ${REDIS_SKIP_REASON}`);
