import { randomUUID } from "node:crypto";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { callApi, GOOG_BACKTEST, waitForBacktest } from "../support/api";
import { BackplaneProcess } from "../support/backplane";
import { REDIS_SKIP_REASON, TestRedisServer, redisServerAvailable } from "../support/redis-server";

/** A password with every character that connection strings, URLs and JSON treat specially. */
const PASSWORD = "S3cr3t@p:ss/w=rd+%#x";
const WRONG_PASSWORD = "WrongP@ss:1";

/** Returns the forms a password may take in a log line: as is, inside a JSON string, and in a URL. */
function writtenForms(password: string): string[] {
  return [
    ...new Set([password, JSON.stringify(password).slice(1, -1), encodeURIComponent(password), encodeURI(password)]),
  ];
}

interface Run {
  name: string;
  /** The password sent to Redis. */
  password: string;
  connectionString(port: number): string;
  masked(port: number): string;
  /** Whether the password is right, so a backtest can run. */
  authenticates: boolean;
}

const RUNS: Run[] = [
  {
    name: "right password in the StackExchange form",
    password: PASSWORD,
    connectionString: (port) => `127.0.0.1:${port},password=${PASSWORD},abortConnect=false`,
    masked: (port) => `127.0.0.1:${port},password=****,abortConnect=false`,
    authenticates: true,
  },
  {
    name: "right password in the URL form",
    password: PASSWORD,
    connectionString: (port) => `redis://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}`,
    masked: (port) => `redis://:****@127.0.0.1:${port}`,
    authenticates: true,
  },
  {
    name: "wrong password in the StackExchange form",
    password: WRONG_PASSWORD,
    connectionString: (port) => `127.0.0.1:${port},password=${WRONG_PASSWORD},abortConnect=false`,
    masked: (port) => `127.0.0.1:${port},password=****,abortConnect=false`,
    authenticates: false,
  },
  {
    name: "wrong password in the URL form",
    password: WRONG_PASSWORD,
    connectionString: (port) => `redis://:${encodeURIComponent(WRONG_PASSWORD)}@127.0.0.1:${port}`,
    masked: (port) => `redis://:****@127.0.0.1:${port}`,
    authenticates: false,
  },
];

describe.skipIf(!redisServerAvailable())(
  `Redis passwords in logs${redisServerAvailable() ? "" : ` (${REDIS_SKIP_REASON})`}`,
  () => {
    let redis: TestRedisServer;

    beforeAll(async () => {
      redis = await TestRedisServer.start({ requirePass: PASSWORD });
    });

    afterAll(async () => {
      await redis?.dispose();
    });

    for (const run of RUNS) {
      it(`never logs the ${run.name}`, async () => {
        // start() waits for the queues, which never connect with a wrong password.
        const backplane = await BackplaneProcess.start({
          webWorkers: 2,
          waitForWorkers: run.authenticates,
          env: {
            REDIS_URL: run.connectionString(redis.port),
            REDIS_PREFIX: `test${randomUUID().slice(0, 8)}`,
            JOB_PROCESSES: "1",
          },
        });

        let exitCode: number | null;
        try {
          if (run.authenticates) {
            // Every process uses the password: the web workers submit and read, the job process runs.
            await backplane.waitForLog((line) => line.msg === "job process ready", 20_000);
            const submitted = await callApi(backplane.url, "POST", "/api/backtests", { json: GOOG_BACKTEST });
            expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
            const snapshot = await waitForBacktest(
              backplane.url,
              (submitted.body as { id: string }).id,
              ["completed", "failed"],
              30_000,
            );
            expect(snapshot.state).toBe("completed");
          } else {
            // After a failed AUTH, ioredis rejects the queued commands with an error whose
            // command.args contain the password; Node's own report of such an unhandled rejection
            // would print it. Wait until Redis has turned away both kinds of process.
            const rejectedRoles = () =>
              new Set(
                backplane.lines.filter((line) => JSON.stringify(line).includes("WRONGPASS")).map((line) => line.role),
              );
            await backplane.waitFor(
              () => rejectedRoles().has("web") && rejectedRoles().has("jobs"),
              20_000,
              "WRONGPASS in the logs of a web worker and of the job process",
            );
          }
        } finally {
          exitCode = await backplane.stop("SIGTERM");
        }
        expect(exitCode).toBe(0);

        const output = backplane.rawOutput.join("\n");
        for (const form of [...writtenForms(PASSWORD), ...writtenForms(WRONG_PASSWORD)]) {
          expect(output.includes(form), `the output contains the password written as ${form}`).toBe(false);
        }

        // The address is still logged, with its password masked.
        const enabled = backplane.lines.find((line) => line.msg === "Redis backplane enabled");
        expect(enabled?.["redis"]).toBe(run.masked(redis.port));
        expect(output).toContain(run.masked(redis.port));
      });
    }
  },
);
