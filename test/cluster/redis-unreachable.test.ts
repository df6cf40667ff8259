import { randomUUID } from "node:crypto";

import { io, type Socket } from "socket.io-client";
import { afterEach, describe, expect, it } from "vitest";

import type { ClientToServerEvents, ErrorBody, ServerToClientEvents } from "../../src/hubs/backtest-events";
import { callApi, GOOG_BACKTEST, pollUntil, waitForBacktest } from "../support/api";
import { BackplaneProcess } from "../support/backplane";
import { freePort } from "../support/ports";
import { REDIS_SKIP_REASON, TestRedisServer, redisServerAvailable } from "../support/redis-server";

/** Hang guard for a request that must fail fast while Redis is down; not a performance claim. */
const FAIL_FAST_LIMIT_MS = 5_000;

/**
 * The Redis clients retry 1 s, 2 s, 4 s, 8 s and so on after the first failure (reconnectDelayMs
 * in src/redis/clients.ts). A Redis started a few seconds after Backplane is therefore reached
 * within about 16 s, and the rest is margin for a loaded machine.
 */
const RECOVERY_TIMEOUT_MS = 45_000;

interface ConnectionForm {
  name: string;
  /** Password the Redis server requires, or undefined for none. */
  password: string | undefined;
  connectionString(port: number): string;
  masked(port: number): string;
}

const FORMS: ConnectionForm[] = [
  {
    name: "URL form",
    password: undefined,
    connectionString: (port) => `redis://127.0.0.1:${port}`,
    masked: (port) => `redis://127.0.0.1:${port}`,
  },
  {
    // StackExchange.Redis stops at startup with abortConnect=true; Backplane must start anyway.
    name: "StackExchange form with abortConnect=true",
    password: "unreachable-p@ss",
    connectionString: (port) => `127.0.0.1:${port},password=unreachable-p@ss,abortConnect=true`,
    masked: (port) => `127.0.0.1:${port},password=****,abortConnect=true`,
  },
];

describe.skipIf(!redisServerAvailable())(
  `Redis unreachable at startup${redisServerAvailable() ? "" : ` (${REDIS_SKIP_REASON})`}`,
  () => {
    let backplane: BackplaneProcess | undefined;
    let redis: TestRedisServer | undefined;
    let socket: Socket<ServerToClientEvents, ClientToServerEvents> | undefined;

    afterEach(async (context) => {
      // A failed assertion shows no server output, so print its tail for the diagnosis.
      if (context.task.result?.state === "fail" && backplane !== undefined) {
        console.error(backplane.rawOutput.slice(-50).join("\n"));
      }
      socket?.close();
      const code = await backplane?.stop();
      await redis?.dispose();
      backplane = undefined;
      redis = undefined;
      expect(code).toBe(0);
    });

    for (const form of FORMS) {
      it(`starts, answers 503 and recovers (${form.name})`, async () => {
        const port = await freePort();
        const masked = form.masked(port);
        // start() would wait for the queues to connect, which they cannot do yet.
        backplane = await BackplaneProcess.start({
          webWorkers: 2,
          waitForWorkers: false,
          env: {
            REDIS_URL: form.connectionString(port),
            REDIS_PREFIX: `test${randomUUID().slice(0, 8)}`,
            JOB_PROCESSES: "1",
          },
        });
        const instance = backplane;
        await instance.waitFor(
          () => instance.count((line) => line.msg === "web worker ready") >= 2,
          30_000,
          "2 web workers ready",
        );

        // The primary started and logged why it runs without Redis, with the masked address.
        const warning = await instance.waitForLog((line) => line.role === "primary" && line.level === 40);
        expect(warning.msg).toContain("Redis did not answer at startup");
        expect(warning["redis"]).toBe(masked);

        const health = await callApi(instance.url, "GET", "/healthz");
        expect(health.status).toBe(200);

        const readiness = await callApi(instance.url, "GET", "/readyz");
        expect(readiness.status).toBe(503);
        const notReady = readiness.body as { ready: boolean; reason: string };
        expect(notReady.ready).toBe(false);
        expect(notReady.reason).toContain(masked);

        // Every job request fails fast with 503 instead of waiting for Redis.
        const submitted = await callApi(instance.url, "POST", "/api/backtests", { json: GOOG_BACKTEST });
        expect(submitted.status).toBe(503);
        expect((submitted.body as { error: ErrorBody }).error.code).toBe("unavailable");
        expect((submitted.body as { error: ErrorBody }).error.message).toContain("/readyz");
        expect(submitted.elapsedMs).toBeLessThan(FAIL_FAST_LIMIT_MS);

        for (const method of ["GET", "DELETE"]) {
          const reply = await callApi(instance.url, method, `/api/backtests/${randomUUID()}`);
          expect(reply.status, `${method} ${JSON.stringify(reply.body)}`).toBe(503);
          expect((reply.body as { error: ErrorBody }).error.code).toBe("unavailable");
          expect(reply.elapsedMs).toBeLessThan(FAIL_FAST_LIMIT_MS);
        }

        socket = io(`${instance.url}/backtest`, { transports: ["websocket"], reconnection: false, forceNew: true });
        const ack = (await socket.timeout(FAIL_FAST_LIMIT_MS).emitWithAck("subscribe", { id: randomUUID() })) as {
          error: ErrorBody;
        };
        expect(ack.error.code).toBe("unavailable");

        // Redis comes up on the same port; Backplane reconnects without a restart.
        redis = await TestRedisServer.start({
          port,
          ...(form.password === undefined ? {} : { requirePass: form.password }),
        });
        await pollUntil(
          async () => ((await callApi(instance.url, "GET", "/readyz")).status === 200 ? true : undefined),
          { timeoutMs: RECOVERY_TIMEOUT_MS, intervalMs: 250, what: "/readyz to return 200" },
        );
        // /readyz reached one worker; a submit may reach the other, so wait until both are ready.
        await instance.waitFor(
          () => readyProducerPids(instance).size >= 2,
          RECOVERY_TIMEOUT_MS,
          "the producer connection of both web workers to be ready",
        );

        const retried = await callApi(instance.url, "POST", "/api/backtests", { json: GOOG_BACKTEST });
        expect(retried.status, JSON.stringify(retried.body)).toBe(202);
        const id = (retried.body as { id: string }).id;
        const snapshot = await waitForBacktest(
          instance.url,
          id,
          ["completed", "failed", "cancelled"],
          RECOVERY_TIMEOUT_MS,
        );
        expect(snapshot.state, JSON.stringify(snapshot.error)).toBe("completed");

        // Waiting for Redis never took a process down.
        expect(instance.count((line) => line.msg === "child died; respawning")).toBe(0);
      });
    }
  },
);

/** Pids of the web workers whose producer connection logged that it is ready. */
function readyProducerPids(backplane: BackplaneProcess): Set<number> {
  const lines = backplane.lines.filter(
    (line) =>
      line.role === "web" &&
      line.msg === "Redis connection ready" &&
      line["connectionName"] === "backplane:web:producer",
  );
  return new Set(lines.map((line) => Number(line["pid"])));
}
