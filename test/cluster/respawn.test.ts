import { randomUUID } from "node:crypto";
import path from "node:path";

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { createLogger } from "../../src/logging/logger";
import { Supervisor, type SupervisedChild, type SupervisorOptions } from "../../src/primary/supervisor";
import { callApi, GOOG_BACKTEST, waitForBacktest } from "../support/api";
import { BackplaneProcess, type LogLine } from "../support/backplane";
import { killSurvivors, processExists, startedChildren, waitForProcessesGone } from "../support/process-tree";
import { REDIS_SKIP_REASON, TestRedisServer, redisServerAvailable } from "../support/redis-server";

/** Preload that makes every web worker exit with code 1 at startup. */
const CRASHING_WEB_WORKERS = path.join(__dirname, "../support/fixtures/exit-in-web-workers.cjs");

const RESPAWN_BACKOFF_MS = 50;

const redisAvailable = redisServerAvailable();

function respawnLines(backplane: BackplaneProcess, role: "web" | "jobs"): LogLine[] {
  return backplane.lines.filter(
    (line) => line.role === "primary" && line.msg === "child died; respawning" && line["child"] === role,
  );
}

async function expectBacktestCompletes(backplane: BackplaneProcess): Promise<void> {
  const submitted = await callApi(backplane.url, "POST", "/api/backtests", { json: GOOG_BACKTEST });
  expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
  const snapshot = await waitForBacktest(
    backplane.url,
    (submitted.body as { id: string }).id,
    ["completed", "failed", "cancelled"],
    30_000,
  );
  expect(snapshot.state).toBe("completed");
}

describe("respawn of a killed child", () => {
  let backplane: BackplaneProcess | undefined;
  let redis: TestRedisServer | undefined;

  afterEach(async () => {
    if (backplane !== undefined) {
      const pids = startedChildren(backplane).map((child) => child.pid);
      expect(await backplane.stop()).toBe(0);
      await waitForProcessesGone(pids, 3_000);
    }
    await redis?.dispose();
    backplane = undefined;
    redis = undefined;
  });

  it("replaces a web worker killed with SIGKILL", async () => {
    backplane = await BackplaneProcess.start({
      webWorkers: 2,
      env: { RESPAWN_BACKOFF_MS: String(RESPAWN_BACKOFF_MS) },
    });
    const instance = backplane;
    const before = instance.webWorkerPids();
    const [victim] = before;
    if (victim === undefined) throw new Error("no web worker pid in the logs");

    process.kill(victim, "SIGKILL");

    const died = await instance.waitForLog(
      (line) => line.msg === "child died; respawning" && line["childPid"] === victim,
    );
    expect(died.role).toBe("primary");
    expect(died["child"]).toBe("web");
    expect(died["signal"]).toBe("SIGKILL");
    expect(died["code"]).toBeNull();
    // Regression: the first respawn of a slot waits RESPAWN_BACKOFF_MS, not twice that.
    expect(died["respawnInMs"]).toBe(RESPAWN_BACKOFF_MS);

    await instance.waitFor(() => instance.webWorkerPids().length >= 3, 15_000, "a third web worker ready");
    const replacement = instance.webWorkerPids().find((pid) => !before.includes(pid));
    expect(replacement).toBeDefined();
    expect(processExists(victim)).toBe(false);

    // The survivor served all along, and now both workers serve again.
    for (let i = 0; i < 5; i += 1) {
      const health = await callApi(instance.url, "GET", "/healthz");
      expect(health.status).toBe(200);
    }
    await expectBacktestCompletes(instance);
    expect(respawnLines(instance, "web")).toHaveLength(1);
  });

  it.skipIf(!redisAvailable)(
    `replaces a job process killed with SIGKILL${redisAvailable ? "" : ` (${REDIS_SKIP_REASON})`}`,
    async () => {
      redis = await TestRedisServer.start();
      backplane = await BackplaneProcess.start({
        webWorkers: 2,
        env: {
          REDIS_URL: redis.url,
          REDIS_PREFIX: `test${randomUUID().slice(0, 8)}`,
          JOB_PROCESSES: "1",
          RESPAWN_BACKOFF_MS: String(RESPAWN_BACKOFF_MS),
        },
      });
      const instance = backplane;
      await instance.waitForLog((line) => line.msg === "job process ready", 20_000);
      const [jobProcess] = startedChildren(instance, "jobs");
      if (jobProcess === undefined) throw new Error("no job process in the logs");

      process.kill(jobProcess.pid, "SIGKILL");

      const died = await instance.waitForLog(
        (line) => line.msg === "child died; respawning" && line["childPid"] === jobProcess.pid,
      );
      expect(died["child"]).toBe("jobs");
      expect(died["signal"]).toBe("SIGKILL");
      await instance.waitFor(
        () => instance.count((line) => line.msg === "job process ready") >= 2,
        20_000,
        "a second job process ready",
      );

      // The replacement takes jobs: nothing else could run this backtest.
      await expectBacktestCompletes(instance);
    },
  );
});

describe("crash loop of web workers", () => {
  let backplane: BackplaneProcess;

  beforeAll(async () => {
    backplane = await BackplaneProcess.start({
      webWorkers: 1,
      waitForWorkers: false,
      env: { NODE_OPTIONS: `--require ${CRASHING_WEB_WORKERS}`, RESPAWN_BACKOFF_MS: "20", SHUTDOWN_TIMEOUT_MS: "3000" },
    });
  });

  afterAll(async () => {
    const pids = startedChildren(backplane).map((child) => child.pid);
    await backplane.stop("SIGKILL");
    killSurvivors(pids);
  });

  it("doubles the delay after each quick death", async () => {
    await backplane.waitFor(() => respawnLines(backplane, "web").length >= 6, 30_000, "6 respawns");

    const deaths = respawnLines(backplane, "web");
    expect(deaths.slice(0, 6).map((line) => line["respawnInMs"])).toEqual([20, 40, 80, 160, 320, 640]);
    for (const death of deaths) expect(death["code"]).toBe(1);
    expect(backplane.count((line) => line.msg === "web worker ready")).toBe(0);
  });

  it("stops respawning on SIGTERM and exits 0", async () => {
    const code = await backplane.stop("SIGTERM");
    expect(code).toBe(0);

    const started = startedChildren(backplane, "web");
    const stoppedAt = backplane.lines.findIndex((line) => line.role === "primary" && line.msg === "shutting down");
    expect(stoppedAt).toBeGreaterThan(0);
    expect(backplane.lines.slice(stoppedAt).filter((line) => line.msg === "child started")).toEqual([]);
    await waitForProcessesGone(
      started.map((child) => child.pid),
      3_000,
    );
  });
});

describe("Supervisor", () => {
  /** Fake children that exit with code 1 after `lifetimeMs`, or at once when killed. */
  function fakeSpawner(lifetimeMs: number) {
    let nextPid = 1_000_000;
    const spawned: SupervisedChild[] = [];
    const spawn = (): SupervisedChild => {
      const listeners: ((code: number | null, signal: NodeJS.Signals | null) => void)[] = [];
      let exited = false;
      const exit = (code: number | null, signal: NodeJS.Signals | null) => {
        if (exited) return;
        exited = true;
        clearTimeout(timer);
        for (const listener of listeners) listener(code, signal);
      };
      const timer = setTimeout(() => exit(1, null), lifetimeMs);
      const child: SupervisedChild = {
        pid: nextPid++,
        onExit: (listener) => void listeners.push(listener),
        kill: (signal) => void setImmediate(() => exit(null, signal)),
      };
      spawned.push(child);
      return child;
    };
    return { spawn, spawned };
  }

  function createSupervisor(options: Partial<SupervisorOptions> & Pick<SupervisorOptions, "spawn">) {
    const lines: LogLine[] = [];
    const logger = createLogger({
      level: "info",
      role: "primary",
      destination: { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) },
    });
    const supervisor = new Supervisor({
      role: "web",
      count: 1,
      backoffMs: 20,
      maxBackoffMs: 10_000,
      healthyAfterMs: 10_000,
      logger,
      ...options,
    });
    const delays = () =>
      lines.filter((line) => line.msg === "child died; respawning").map((line) => line["respawnInMs"]);
    return { supervisor, lines, delays };
  }

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const running: Supervisor[] = [];

  afterEach(async () => {
    await Promise.all(running.splice(0).map((supervisor) => supervisor.stop("SIGTERM")));
  });

  it("backs off children that exit at once", async () => {
    const windowMs = 1_000;

    // Without backoff, a child that exits at once is replaced on every turn of the event loop.
    const tight = fakeSpawner(0);
    const tightLoop = createSupervisor({ spawn: tight.spawn, backoffMs: 0 });
    running.push(tightLoop.supervisor);
    tightLoop.supervisor.start();
    await sleep(windowMs);
    await tightLoop.supervisor.stop("SIGTERM");

    const backedOff = fakeSpawner(0);
    const { supervisor, delays } = createSupervisor({ spawn: backedOff.spawn, backoffMs: 20 });
    running.push(supervisor);
    supervisor.start();
    await sleep(windowMs);

    // Spawns at about 0, 20, 60, 140, 300 and 620 ms, the next at 1260 ms.
    expect(backedOff.spawned.length).toBeGreaterThanOrEqual(4);
    expect(backedOff.spawned.length).toBeLessThanOrEqual(7);
    expect(tight.spawned.length).toBeGreaterThan(backedOff.spawned.length * 10);
    expect(delays().slice(0, 5)).toEqual([20, 40, 80, 160, 320]);
  });

  it("respawns nothing after stop()", async () => {
    const spawner = fakeSpawner(0);
    const { supervisor } = createSupervisor({ spawn: spawner.spawn, backoffMs: 100 });
    supervisor.start();
    await sleep(30);
    // The first child has died and its replacement is due in 100 ms.
    expect(spawner.spawned).toHaveLength(1);

    const stoppedAt = Date.now();
    await supervisor.stop("SIGTERM");
    expect(Date.now() - stoppedAt).toBeLessThan(100);
    await sleep(400);
    expect(spawner.spawned).toHaveLength(1);
    expect(supervisor.children()).toEqual([]);
  });

  it("stops and waits for a running child", async () => {
    const spawner = fakeSpawner(60_000);
    const { supervisor, lines } = createSupervisor({ spawn: spawner.spawn });
    supervisor.start();
    expect(supervisor.children()).toHaveLength(1);

    await supervisor.stop("SIGTERM");

    expect(supervisor.children()).toEqual([]);
    const exited = lines.find((line) => line.msg === "child exited");
    expect(exited?.["signal"]).toBe("SIGTERM");
    await sleep(100);
    expect(spawner.spawned).toHaveLength(1);
  });

  it("resets the backoff after a healthy life", async () => {
    const spawner = fakeSpawner(60);
    const { supervisor, delays } = createSupervisor({ spawn: spawner.spawn, backoffMs: 20, healthyAfterMs: 40 });
    running.push(supervisor);
    supervisor.start();
    await sleep(400);

    expect(delays().length).toBeGreaterThanOrEqual(3);
    for (const delay of delays()) expect(delay).toBe(20);
  });

  it("caps the delay at maxBackoffMs", async () => {
    const spawner = fakeSpawner(0);
    const { supervisor, delays } = createSupervisor({ spawn: spawner.spawn, backoffMs: 10, maxBackoffMs: 30 });
    running.push(supervisor);
    supervisor.start();
    await sleep(250);

    expect(delays().slice(0, 5)).toEqual([10, 20, 30, 30, 30]);
  });
});
