import { randomUUID } from "node:crypto";

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { createShutdown } from "../../src/lifecycle/shutdown";
import { createLogger } from "../../src/logging/logger";
import { callApi, GOOG_BACKTEST, pollUntil } from "../support/api";
import { BackplaneProcess, type LogLine } from "../support/backplane";
import { freePort } from "../support/ports";
import { killSurvivors, processExists, startedChildren, waitForProcessesGone } from "../support/process-tree";
import { REDIS_SKIP_REASON, TestRedisServer, redisServerAvailable } from "../support/redis-server";
import type { BacktestSnapshot } from "../../src/hubs/backtest-events";

const SHUTDOWN_TIMEOUT_MS = 3_000;

/** Slack for process start-up and exit on a loaded 2-core machine, on top of the shutdown timeout. */
const EXIT_MARGIN_MS = 3_000;

/** Time the children may take to disappear once the primary has exited. */
const CHILDREN_GONE_TIMEOUT_MS = 3_000;

const redisAvailable = redisServerAvailable();

/** Returns every pid the instance started (primary and children), for cleanup after a failed test. */
function allPids(backplane: BackplaneProcess): number[] {
  const pids = startedChildren(backplane).map((child) => child.pid);
  return backplane.pid === undefined ? pids : [backplane.pid, ...pids];
}

/**
 * Sends `signal` to the primary and checks that it exits with code 0 within the shutdown timeout
 * plus a margin, leaving no child behind. Returns the time the exit took, in milliseconds.
 */
async function expectCleanExit(backplane: BackplaneProcess, signal: NodeJS.Signals): Promise<number> {
  const children = startedChildren(backplane).map((child) => child.pid);
  expect(children.length).toBeGreaterThan(0);

  const startedAt = Date.now();
  const code = await backplane.stop(signal);
  const elapsedMs = Date.now() - startedAt;

  expect(code).toBe(0);
  expect(elapsedMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS + EXIT_MARGIN_MS);
  await waitForProcessesGone(children, CHILDREN_GONE_TIMEOUT_MS);
  return elapsedMs;
}

/** Returns the lines that show a process had to be forced out instead of finishing its ordered shutdown. */
function forcedExits(backplane: BackplaneProcess): LogLine[] {
  return backplane.lines.filter(
    (line) => line.msg === "shutdown timed out; forcing exit" || line.msg === "second termination signal; exiting now",
  );
}

describe("termination signals in single-host mode", () => {
  let backplane: BackplaneProcess | undefined;

  afterEach(async () => {
    if (backplane === undefined) return;
    const pids = allPids(backplane);
    await backplane.stop("SIGKILL");
    killSurvivors(pids);
    backplane = undefined;
  });

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`exits 0 on ${signal} with every child gone`, async () => {
      backplane = await BackplaneProcess.start({
        webWorkers: 2,
        env: { SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) },
      });

      await expectCleanExit(backplane, signal);

      // Each process ran its ordered shutdown to the end; none was forced out.
      expect(forcedExits(backplane)).toEqual([]);
      const completed = backplane.lines.filter((line) => line.msg === "shutdown complete").map((line) => line.role);
      expect(completed.sort()).toEqual(["primary", "web", "web"]);
    });
  }

  it("exits at once on a second signal during a stuck shutdown", async () => {
    // A long timeout, so that only the second signal can end the shutdown in time.
    backplane = await BackplaneProcess.start({ webWorkers: 2, env: { SHUTDOWN_TIMEOUT_MS: "60000" } });
    const instance = backplane;
    const children = startedChildren(instance).map((child) => child.pid);
    const [stuck] = instance.webWorkerPids();
    if (stuck === undefined) throw new Error("no web worker pid in the logs");

    // A stopped web worker cannot act on SIGTERM, so the primary's shutdown waits for it.
    process.kill(stuck, "SIGSTOP");
    try {
      void instance.stop("SIGTERM");
      await instance.waitForLog((line) => line.role === "primary" && line.msg === "shutting down", 5_000);
      await instance.waitForLog((line) => line.role === "web" && line.msg === "shutdown complete", 5_000);
      expect(processExists(stuck)).toBe(true);

      const startedAt = Date.now();
      const code = await instance.stop("SIGTERM");
      const elapsedMs = Date.now() - startedAt;

      expect(code).toBe(1);
      expect(elapsedMs).toBeLessThan(EXIT_MARGIN_MS);
      expect(
        instance.lines.some((line) => line.role === "primary" && line.msg === "second termination signal; exiting now"),
      ).toBe(true);
      // The forced exit takes the stuck worker with it instead of leaving an orphan.
      await waitForProcessesGone(children, CHILDREN_GONE_TIMEOUT_MS);
    } finally {
      if (processExists(stuck)) process.kill(stuck, "SIGCONT");
    }
  });
});

describe.skipIf(!redisAvailable)(
  `termination signals in Redis mode${redisAvailable ? "" : ` (${REDIS_SKIP_REASON})`}`,
  () => {
    let redis: TestRedisServer;
    let backplane: BackplaneProcess | undefined;

    beforeAll(async () => {
      redis = await TestRedisServer.start();
    });

    afterEach(async () => {
      if (backplane === undefined) return;
      const pids = allPids(backplane);
      await backplane.stop("SIGKILL");
      killSurvivors(pids);
      backplane = undefined;
    });

    afterAll(async () => {
      await redis?.dispose();
    });

    it("exits 0 on SIGTERM while a paced backtest runs", async () => {
      backplane = await BackplaneProcess.start({
        webWorkers: 2,
        env: {
          REDIS_URL: redis.url,
          REDIS_PREFIX: `test${randomUUID().slice(0, 8)}`,
          JOB_PROCESSES: "1",
          SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
        },
      });
      const instance = backplane;
      await instance.waitForLog((line) => line.msg === "job process ready", 20_000);

      // About 4 s for the 2,149 bars of goog-daily, so the SIGTERM lands mid-run.
      const submitted = await callApi(instance.url, "POST", "/api/backtests", {
        json: { ...GOOG_BACKTEST, barsPerSecond: 500 },
      });
      expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
      const id = (submitted.body as { id: string }).id;
      const running = await pollUntil(
        async () => {
          const snapshot = (await callApi(instance.url, "GET", `/api/backtests/${id}`)).body as BacktestSnapshot;
          return snapshot.state === "running" && snapshot.progress.processed > 0 ? snapshot : undefined;
        },
        { timeoutMs: 15_000, what: `backtest ${id} to be running` },
      );
      expect(running.progress.processed).toBeLessThan(running.progress.total);

      await expectCleanExit(instance, "SIGTERM");
      expect(forcedExits(instance)).toEqual([]);
    });

    it("exits 0 on SIGTERM while Redis is unreachable", async () => {
      const closedPort = await freePort();
      backplane = await BackplaneProcess.start({
        webWorkers: 2,
        waitForWorkers: false,
        env: {
          REDIS_URL: `redis://127.0.0.1:${closedPort}`,
          REDIS_PREFIX: `test${randomUUID().slice(0, 8)}`,
          JOB_PROCESSES: "1",
          SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
        },
      });
      const instance = backplane;
      await instance.waitFor(
        () => instance.count((line) => line.msg === "web worker ready") >= 2,
        30_000,
        "2 web workers ready",
      );
      await instance.waitForLog((line) => line.msg === "job process ready", 20_000);

      await expectCleanExit(instance, "SIGTERM");
      expect(forcedExits(instance)).toEqual([]);
    });
  },
);

describe("createShutdown", () => {
  /** Creates a logger that keeps its lines, and a recorder of exit codes. */
  function harness(timeoutMs: number) {
    const lines: LogLine[] = [];
    const logger = createLogger({
      level: "info",
      role: "web",
      destination: { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) },
    });
    const exits: number[] = [];
    return { lines, exits, options: { timeoutMs, logger, exit: (code: number) => void exits.push(code) } };
  }

  it("runs the steps once, in order", async () => {
    const { exits, options } = harness(1_000);
    const order: string[] = [];
    const shutdown = createShutdown(
      [
        { name: "first", run: async () => void order.push("first") },
        { name: "second", run: () => void order.push("second") },
      ],
      options,
    );

    const first = shutdown("SIGTERM");
    const second = shutdown("SIGINT");
    expect(second).toBe(first);
    await first;

    expect(order).toEqual(["first", "second"]);
    expect(exits).toEqual([0]);
  });

  it("logs a failing step and runs the next", async () => {
    const { lines, exits, options } = harness(1_000);
    const order: string[] = [];
    const shutdown = createShutdown(
      [
        {
          name: "failing",
          run: () => {
            throw new Error("close failed");
          },
        },
        { name: "next", run: () => void order.push("next") },
      ],
      options,
    );

    await shutdown("SIGTERM");

    expect(order).toEqual(["next"]);
    expect(exits).toEqual([0]);
    const failure = lines.find((line) => line.msg === "shutdown step failed; continuing");
    expect(failure?.["step"]).toBe("failing");
    expect((failure?.["err"] as { message?: string } | undefined)?.message).toBe("close failed");
  });

  it("forces exit 1 when a step outlasts the timeout", async () => {
    const { lines, exits, options } = harness(50);
    let release: () => void = () => undefined;
    const shutdown = createShutdown(
      [{ name: "stuck", run: () => new Promise<void>((resolve) => (release = resolve)) }],
      options,
    );

    const running = shutdown("SIGTERM");
    await pollUntil(() => (exits.length > 0 ? true : undefined), {
      timeoutMs: 2_000,
      intervalMs: 10,
      what: "the forced exit",
    });

    expect(exits).toEqual([1]);
    expect(lines.some((line) => line.msg === "shutdown timed out; forcing exit" && line.level === 50)).toBe(true);
    release();
    await running;
  });
});
