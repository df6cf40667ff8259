import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, test } from "vitest";

import { callApi } from "../support/api";
import { BackplaneProcess, ROOT } from "../support/backplane";
import { REDIS_SKIP_REASON, TestRedisServer, redisServerAvailable } from "../support/redis-server";

const MAIN = path.join(ROOT, "dist/src/main.js");

interface ClientConfigCase {
  name: string;
  /** CLIENT_TRANSPORTS, or undefined to leave it unset. */
  setting: string | undefined;
  withRedis: boolean;
  transports: string[];
}

const CASES: ClientConfigCase[] = [
  { name: "unset without Redis", setting: undefined, withRedis: false, transports: ["polling", "websocket"] },
  { name: "auto without Redis", setting: "auto", withRedis: false, transports: ["polling", "websocket"] },
  { name: "unset with Redis", setting: undefined, withRedis: true, transports: ["websocket"] },
  { name: "auto with Redis", setting: "auto", withRedis: true, transports: ["websocket"] },
  { name: "websocket without Redis", setting: "websocket", withRedis: false, transports: ["websocket"] },
  {
    name: "polling,websocket with Redis",
    setting: "polling,websocket",
    withRedis: true,
    transports: ["polling", "websocket"],
  },
  // Case and spaces do not matter, and the order is kept.
  {
    name: "mixed case and spaces",
    setting: " WebSocket , Polling ",
    withRedis: false,
    transports: ["websocket", "polling"],
  },
];

/** Runs the compiled entry with `env` and resolves with its exit code and stderr, for settings that stop startup. */
function runMain(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env["PATH"] ?? "", PORT: "0", HOST: "127.0.0.1", WEB_CONCURRENCY: "1", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const killTimer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  return new Promise((resolve) => {
    child.once("exit", (code) => {
      clearTimeout(killTimer);
      resolve({ code, stderr });
    });
  });
}

describe("GET /api/client-config", () => {
  const hasRedis = redisServerAvailable();
  let redis: TestRedisServer | undefined;

  beforeAll(async () => {
    if (hasRedis) redis = await TestRedisServer.start();
  });

  afterAll(async () => {
    await redis?.dispose();
  });

  for (const testCase of CASES) {
    const skip = testCase.withRedis && !hasRedis;
    test.skipIf(skip)(`${testCase.name}${skip ? ` (${REDIS_SKIP_REASON})` : ""}`, async () => {
      const env: Record<string, string> = {};
      if (testCase.setting !== undefined) env["CLIENT_TRANSPORTS"] = testCase.setting;
      if (testCase.withRedis && redis !== undefined) {
        env["REDIS_URL"] = redis.url;
        env["REDIS_PREFIX"] = `test-${randomUUID().slice(0, 8)}`;
        // The route does not need job processes.
        env["JOB_PROCESSES"] = "0";
      }
      const backplane = await BackplaneProcess.start({ webWorkers: 1, env });

      try {
        const reply = await fetch(`${backplane.url}/api/client-config`);

        expect(reply.status).toBe(200);
        expect(reply.headers.get("cache-control")).toBe("no-cache");
        expect(await reply.json()).toEqual({ transports: testCase.transports });
      } finally {
        expect(await backplane.stop()).toBe(0);
      }
    });
  }

  test("POST gets not_found", async () => {
    const backplane = await BackplaneProcess.start({ webWorkers: 1 });

    try {
      const reply = await callApi(backplane.url, "POST", "/api/client-config", { json: {} });

      // Only GET is routed; other methods fall through to the catalogue's not_found.
      expect(reply.status).toBe(404);
      expect(reply.body).toMatchObject({ error: { code: "not_found" } });
    } finally {
      expect(await backplane.stop()).toBe(0);
    }
  });

  test.each([["carrier-pigeon"], ["websocket,websocket"], ["polling,"], ["webtransport"]])(
    "invalid value %j stops startup",
    async (value) => {
      const run = await runMain({ CLIENT_TRANSPORTS: value });

      expect(run.code).toBe(1);
      expect(run.stderr).toContain(
        `CLIENT_TRANSPORTS="${value.trim()}" is invalid: expected auto, or websocket and polling`,
      );
    },
  );
});
