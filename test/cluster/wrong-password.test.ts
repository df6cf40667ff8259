import { randomUUID } from "node:crypto";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { callApi, pollUntil } from "../support/api";
import { BackplaneProcess } from "../support/backplane";
import { REDIS_SKIP_REASON, TestRedisServer, redisServerAvailable } from "../support/redis-server";

const skipReason = redisServerAvailable() ? undefined : REDIS_SKIP_REASON;

describe.skipIf(skipReason !== undefined)(
  `a wrong Redis password${skipReason === undefined ? "" : ` (${skipReason})`}`,
  () => {
    let redis: TestRedisServer;

    beforeAll(async () => {
      redis = await TestRedisServer.start({ requirePass: "right-password" });
    });

    afterAll(async () => {
      await redis?.dispose();
    });

    it("keeps web workers serving", async () => {
      const backplane = await BackplaneProcess.start({
        webWorkers: 2,
        waitForWorkers: false,
        env: {
          REDIS_URL: `redis://:wrong-password@127.0.0.1:${redis.port}`,
          REDIS_PREFIX: `test${randomUUID().slice(0, 8)}`,
          JOB_PROCESSES: "0",
        },
      });
      let exitCode: number | null;
      try {
        // Redis rejects each web worker's adapter subscriptions. Unhandled, that rejection ended
        // the worker.
        const rejectedWorkers = () =>
          new Set(
            backplane.lines
              .filter((line) => line.msg === "Redis adapter subscription failed; sending it again once reconnected")
              .map((line) => line["pid"]),
          );
        await backplane.waitFor(() => rejectedWorkers().size >= 2, 20_000, "rejected subscriptions in 2 web workers");

        // /readyz names the cause and the fix.
        const reason = await pollUntil(
          async () => {
            const reply = await callApi(backplane.url, "GET", "/readyz");
            const text = (reply.body as { reason?: string }).reason ?? "";
            return reply.status === 503 && text.includes("rejected the credentials") ? text : undefined;
          },
          { timeoutMs: 20_000, what: "/readyz naming the rejected credentials" },
        );
        expect(reason).toContain("(WRONGPASS)");
        expect(reason).toContain(`127.0.0.1:${redis.port}`);
        expect(reason).toContain("REDIS_URL");

        const died = backplane.lines.filter((line) => line.msg === "child died; respawning" && line["child"] === "web");
        expect(died).toEqual([]);
        expect(new Set(backplane.webWorkerPids()).size).toBe(2);
      } finally {
        exitCode = await backplane.stop("SIGTERM");
      }
      expect(exitCode).toBe(0);
      expect(backplane.rawOutput.join("\n")).not.toContain("wrong-password");
    });
  },
);
