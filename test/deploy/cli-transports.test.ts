import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";

import { afterAll, afterEach, describe, expect, test } from "vitest";

import { BackplaneProcess, ROOT } from "../support/backplane";
import { REDIS_SKIP_REASON, TestRedisServer, redisServerAvailable } from "../support/redis-server";
import { RecordingProxy } from "./recording-proxy";

const CLI = path.join(ROOT, "dist/src/cli/backtest.js");
const GOOG_ARGS = ["--dataset", "goog-daily", "--strategy", "sma-cross", "--fast", "10", "--slow", "30", "--json"];
/** Maximum run time of one CLI process before the test kills it. */
const CLI_KILL_AFTER_MS = 60_000;

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[]): Promise<CliRun> {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { PATH: process.env["PATH"] ?? "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const killTimer = setTimeout(() => child.kill("SIGKILL"), CLI_KILL_AFTER_MS);

  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(killTimer);
      resolve({ code, stdout, stderr });
    });
  });
}

const cleanups: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Starts Backplane with `env` behind a proxy that records the transports of each socket.io request. */
async function startBehindProxy(env: Record<string, string>): Promise<RecordingProxy> {
  const backplane = await BackplaneProcess.start({ webWorkers: 1, env });
  cleanups.push(() => backplane.stop());
  const proxy = await RecordingProxy.start(backplane.port);
  cleanups.push(() => proxy.close());
  return proxy;
}

/** Runs the CLI through `proxy` and checks that the backtest completed. */
async function runBacktest(proxy: RecordingProxy, extraArgs: string[] = []): Promise<void> {
  const run = await runCli([...GOOG_ARGS, "--url", proxy.url, ...extraArgs]);

  expect(run.stderr).not.toContain("warning:");
  expect(run.code).toBe(0);
  expect(JSON.parse(run.stdout)).toHaveProperty("stats");
}

describe("CLI transports from the server", () => {
  test("websocket setting connects without polling", async () => {
    const proxy = await startBehindProxy({ CLIENT_TRANSPORTS: "websocket" });

    await runBacktest(proxy);

    expect(proxy.requests.map((request) => `${request.method} ${request.url}`)).toContain("GET /api/client-config");
    const transports = proxy.socketIoTransports();
    expect(transports.length).toBeGreaterThan(0);
    expect(transports.every((transport) => transport === "websocket")).toBe(true);
    expect(proxy.requests.filter((request) => request.upgrade)).toHaveLength(1);
  });

  test("polling,websocket setting starts with polling", async () => {
    const proxy = await startBehindProxy({ CLIENT_TRANSPORTS: "polling,websocket" });

    await runBacktest(proxy);

    // socket.io's handshake over long-polling, then the upgrade to a WebSocket.
    expect(proxy.socketIoTransports()[0]).toBe("polling");
  });

  test("--transports overrides the server", async () => {
    const proxy = await startBehindProxy({ CLIENT_TRANSPORTS: "websocket" });

    await runBacktest(proxy, ["--transports", "polling"]);

    expect(proxy.requests.map((request) => request.url)).not.toContain("/api/client-config");
    const transports = proxy.socketIoTransports();
    expect(transports.length).toBeGreaterThan(0);
    expect(transports.every((transport) => transport === "polling")).toBe(true);
  });

  const hasRedis = redisServerAvailable();
  describe.skipIf(!hasRedis)(`with Redis${hasRedis ? "" : ` (${REDIS_SKIP_REASON})`}`, () => {
    let redis: TestRedisServer | undefined;

    afterAll(async () => {
      await redis?.dispose();
    });

    test("auto setting connects without polling", async () => {
      redis = await TestRedisServer.start();
      const proxy = await startBehindProxy({ REDIS_URL: redis.url, REDIS_PREFIX: `test-${randomUUID().slice(0, 8)}` });

      await runBacktest(proxy);

      const transports = proxy.socketIoTransports();
      expect(transports.length).toBeGreaterThan(0);
      expect(transports.every((transport) => transport === "websocket")).toBe(true);
    });
  });
});
