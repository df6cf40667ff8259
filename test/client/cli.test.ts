import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";

import { freePort } from "../support/ports";
import {
  StandInServer,
  emitProgress,
  makeResult,
  makeSnapshot,
  type HttpReply,
  type RecordedRequest,
  type SubscribeCall,
} from "./stand-in-server";

const ROOT = path.resolve(__dirname, "../..");
const TSC = path.join(ROOT, "node_modules/typescript/bin/tsc");
/** Maximum run time in ms of one CLI process before the test kills it. */
const CLI_KILL_AFTER_MS = 20_000;

let buildDir: string;
let cliPath: string;

// Compile only the CLI and its imports into a directory of this test. The test then neither depends on nor
// overwrites dist/, which other parts of the repository build at the same time.
beforeAll(() => {
  buildDir = mkdtempSync(path.join(os.tmpdir(), "backplane-cli-test-"));
  const tsconfig = {
    extends: path.join(ROOT, "tsconfig.json"),
    compilerOptions: {
      outDir: path.join(buildDir, "out"),
      rootDir: ROOT,
      typeRoots: [path.join(ROOT, "node_modules/@types")],
      noEmitOnError: true,
      sourceMap: false,
    },
    files: [path.join(ROOT, "src/cli/backtest.ts")],
    include: [],
  };
  writeFileSync(path.join(buildDir, "tsconfig.json"), JSON.stringify(tsconfig));

  const build = spawnSync(process.execPath, [TSC, "-p", path.join(buildDir, "tsconfig.json")], { encoding: "utf8" });
  if (build.status !== 0) {
    throw new Error(`compiling the CLI failed:\n${build.stdout}${build.stderr}`);
  }
  cliPath = path.join(buildDir, "out/src/cli/backtest.js");
});

afterAll(() => {
  rmSync(buildDir, { recursive: true, force: true });
});

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup();
  }
});

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

/** Runs the compiled CLI. `whileRunning` receives the child, e.g. to send it SIGINT. */
function runCli(args: string[], whileRunning?: (child: ReturnType<typeof spawn>) => void): Promise<CliRun> {
  const started = Date.now();
  // The build lives outside the repository, so node finds the dependencies through NODE_PATH.
  const child = spawn(process.execPath, [cliPath, ...args], {
    cwd: ROOT,
    env: { ...process.env, NODE_PATH: path.join(ROOT, "node_modules") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const killTimer = setTimeout(() => child.kill("SIGKILL"), CLI_KILL_AFTER_MS);
  whileRunning?.(child);

  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(killTimer);
      resolve({ code, stdout, stderr, elapsedMs: Date.now() - started });
    });
  });
}

interface ServerScript {
  onSubscribe?: (call: SubscribeCall) => void;
  /** A reply of undefined falls back to the default routes. */
  onHttpRequest?: (request: RecordedRequest) => HttpReply | undefined | Promise<HttpReply | undefined>;
}

/** Starts a stand-in that accepts any submit with id bt-1 and otherwise follows `script`. */
async function startServer(script: ServerScript): Promise<StandInServer> {
  const server = await StandInServer.start({
    ...(script.onSubscribe === undefined ? {} : { onSubscribe: script.onSubscribe }),
    async onHttpRequest(request) {
      const reply = await script.onHttpRequest?.(request);
      if (reply !== undefined) {
        return reply;
      }
      if (request.method === "POST" && request.path === "/api/backtests") {
        return { status: 202, body: { id: "bt-1" } };
      }
      return { status: 404, body: { error: { code: "not_found", message: `no route ${request.path}` } } };
    },
  });
  cleanups.push(() => server.close());
  return server;
}

/** Acknowledges with a queued snapshot, then sends progress 10%, 20% ... 100% and the result. */
function completeWithProgress(call: SubscribeCall): void {
  call.ack({ snapshot: makeSnapshot(call.id, { state: "queued" }), worker: "stand-in/1" });
  for (let seq = 1; seq <= 10; seq += 1) {
    call.socket.emit("progress", { id: call.id, seq, processed: seq * 10, total: 100, percent: seq * 10 });
  }
  call.socket.emit("completed", { id: call.id, seq: 11, result: makeResult() });
}

const BASE_ARGS = ["--dataset", "btcusdt-1h", "--strategy", "sma-cross", "--fast", "10", "--slow", "30"];

describe("backtest CLI usage", () => {
  test("help prints usage", async () => {
    const run = await runCli(["--help"]);

    expect(run.code).toBe(0);
    expect(run.stdout).toContain("Usage: npm run backtest -- --dataset ID --strategy ID [options]");
    expect(run.stdout).toContain("--bars-per-second N");
    expect(run.stderr).toBe("");
  });

  test.each([
    ["no arguments", [], "missing --dataset"],
    ["no strategy", ["--dataset", "btcusdt-1h"], "missing --strategy"],
    ["unknown option", [...BASE_ARGS, "--bogus"], "Unknown option '--bogus'"],
    ["positional argument", [...BASE_ARGS, "extra"], "Unexpected argument 'extra'"],
    [
      "text for --fast",
      ["--dataset", "btcusdt-1h", "--strategy", "sma-cross", "--fast", "ten"],
      'invalid --fast "ten"',
    ],
    ["param without =", [...BASE_ARGS, "--param", "threshold"], 'invalid --param "threshold": expected NAME=VALUE'],
    ["param given twice", [...BASE_ARGS, "--param", "fast=12"], "strategy parameter fast is given twice"],
    ["both fractional flags", [...BASE_ARGS, "--fractional", "--no-fractional"], "cannot be used together"],
    ["zero cash", [...BASE_ARGS, "--cash", "0"], 'invalid --cash "0": expected a positive number'],
    ["commission above 1", [...BASE_ARGS, "--commission", "1.5"], 'invalid --commission "1.5"'],
    ["negative bar rate", [...BASE_ARGS, "--bars-per-second=-5"], 'invalid --bars-per-second "-5"'],
    ["unknown transport", [...BASE_ARGS, "--transports", "carrier-pigeon"], 'invalid --transports "carrier-pigeon"'],
    ["url without scheme", [...BASE_ARGS, "--url", "localhost:3000"], 'invalid Backplane URL "localhost:3000"'],
  ])("%s exits 2", async (_label, args, message) => {
    const run = await runCli(args);

    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stderr).toContain("Run with --help for usage.");
    expect(run.stdout).toBe("");
  });

  test("server validation error exits 2", async () => {
    const server = await startServer({
      onHttpRequest: () => ({
        status: 400,
        body: { error: { code: "validation_failed", message: "unknown strategy nope", field: "strategy" } },
      }),
    });

    const run = await runCli(["--dataset", "btcusdt-1h", "--strategy", "nope", "--url", server.url]);

    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      "error: the server rejected the backtest request (field strategy): unknown strategy nope",
    );
  });
});

describe("backtest CLI unreachable server", () => {
  test("closed port exits 3 with the url", async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;

    const run = await runCli([...BASE_ARGS, "--url", url]);

    expect(run.code).toBe(3);
    expect(run.stderr).toBe(
      `cannot reach Backplane at ${url}: connect ECONNREFUSED 127.0.0.1:${port}. Start it with npm start or pass --url.\n`,
    );
    expect(run.stdout).toBe("");
    expect(run.elapsedMs).toBeLessThan(5_000);
  });

  test("unavailable server exits 3", async () => {
    const server = await startServer({
      onHttpRequest: () => ({ status: 503, body: { error: { code: "unavailable", message: "job queue is down" } } }),
    });

    const run = await runCli([...BASE_ARGS, "--url", server.url]);

    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`Backplane at ${server.url} is unavailable: job queue is down.`);
  });
});

describe("backtest CLI run", () => {
  test("completed backtest prints the statistics table", async () => {
    const server = await startServer({ onSubscribe: completeWithProgress });

    const run = await runCli([...BASE_ARGS, "--url", server.url]);

    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      [
        "Start             2018-01-01 00:00:00",
        "Equity Final [$]            12,345.68",
        "Return [%]                      23.46",
        "Sharpe Ratio                   0.8123",
        "Win Rate [%]                      n/a",
        "trades                              2",
        "",
      ].join("\n"),
    );
    // stderr is a pipe here, so progress comes as one line per 10%.
    const progressLines = run.stderr.split("\n").filter((line) => line.startsWith("progress "));
    expect(progressLines).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90, 100].map((percent) => `progress ${percent}%`));
    expect(run.stderr).toContain(`backtest bt-1 submitted to ${server.url}`);
    expect(run.stderr).toContain("following backtest bt-1 on worker stand-in/1");
    expect(server.requests[0]?.body).toEqual({
      dataset: "btcusdt-1h",
      strategy: "sma-cross",
      params: { fast: 10, slow: 30 },
      cash: 10_000,
      commission: 0,
      fractional: true,
    });
  });

  test("json flag prints the result", async () => {
    const server = await startServer({ onSubscribe: completeWithProgress });

    const run = await runCli([...BASE_ARGS, "--url", server.url, "--json", "--transports", "websocket"]);

    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual(makeResult());
  });

  test("request options reach the server", async () => {
    const server = await startServer({ onSubscribe: completeWithProgress });

    const run = await runCli([
      "--dataset",
      "goog-daily",
      "--strategy",
      "breakout",
      "--param",
      "threshold=0.5",
      "--param",
      "mode=long",
      "--param",
      "trailing=true",
      "--cash",
      "2500",
      "--commission",
      "0",
      "--bars-per-second",
      "500",
      "--transports",
      "polling",
      "--url",
      server.url,
    ]);

    expect(run.code).toBe(0);
    // Datasets other than btcusdt* trade whole units unless --fractional is given.
    expect(server.requests[0]?.body).toEqual({
      dataset: "goog-daily",
      strategy: "breakout",
      params: { threshold: 0.5, mode: "long", trailing: true },
      cash: 2500,
      commission: 0,
      fractional: false,
      barsPerSecond: 500,
    });
  });

  test("failed backtest exits 1", async () => {
    const server = await startServer({
      onSubscribe(call) {
        call.ack({ snapshot: makeSnapshot(call.id), worker: "stand-in/1" });
        emitProgress(call.socket, call.id, [1]);
        call.socket.emit("failed", {
          id: call.id,
          seq: 2,
          error: { code: "internal", message: "dataset file is corrupt" },
        });
      },
    });

    const run = await runCli([...BASE_ARGS, "--url", server.url]);

    expect(run.code).toBe(1);
    expect(run.stderr).toContain("backtest bt-1 failed: dataset file is corrupt (internal)");
    expect(run.stdout).toBe("");
  });

  test("cancelled backtest exits 1", async () => {
    const server = await startServer({
      onSubscribe(call) {
        call.ack({ snapshot: makeSnapshot(call.id, { state: "cancelled", seq: 4 }), worker: "stand-in/1" });
      },
    });

    const run = await runCli([...BASE_ARGS, "--url", server.url]);

    expect(run.code).toBe(1);
    expect(run.stderr).toContain("backtest bt-1 was cancelled before it completed");
  });

  test("ctrl-c cancels the backtest and exits 130", async () => {
    let markSubscribed!: () => void;
    const subscribed = new Promise<void>((resolve) => {
      markSubscribed = resolve;
    });
    const server = await startServer({
      onSubscribe(call) {
        call.ack({ snapshot: makeSnapshot(call.id), worker: "stand-in/1" });
        markSubscribed();
      },
      onHttpRequest(request) {
        if (request.method === "DELETE") {
          return { status: 202, body: makeSnapshot("bt-1") };
        }
        return undefined;
      },
    });

    const run = await runCli([...BASE_ARGS, "--url", server.url], (child) => {
      void subscribed.then(() => child.kill("SIGINT"));
    });

    expect(run.code).toBe(130);
    expect(server.requests.map((request) => `${request.method} ${request.path}`)).toEqual([
      "POST /api/backtests",
      "GET /api/client-config",
      "DELETE /api/backtests/bt-1",
    ]);
    expect(run.stderr).toContain("interrupted: cancelling backtest bt-1");
    expect(run.stderr).toContain("backtest bt-1 cancelled");
  });

  test("ctrl-c during submit cancels once submitted", async () => {
    let markPostReceived!: () => void;
    const postReceived = new Promise<void>((resolve) => {
      markPostReceived = resolve;
    });
    let markInterruptSeen!: () => void;
    const interruptSeen = new Promise<void>((resolve) => {
      markInterruptSeen = resolve;
    });
    const server = await startServer({
      async onHttpRequest(request) {
        if (request.method === "POST") {
          // Hold the submit until the CLI has reported the Ctrl-C, so that the signal lands while it waits.
          markPostReceived();
          await interruptSeen;
          return { status: 202, body: { id: "bt-1" } };
        }
        return { status: 202, body: makeSnapshot("bt-1") };
      },
    });

    const run = await runCli([...BASE_ARGS, "--url", server.url], (child) => {
      child.stderr?.on("data", (chunk: Buffer) => {
        if (chunk.toString("utf8").includes("interrupted: cancelling the backtest once it is submitted")) {
          markInterruptSeen();
        }
      });
      void postReceived.then(() => child.kill("SIGINT"));
    });

    expect(run.code).toBe(130);
    expect(server.requests.map((request) => `${request.method} ${request.path}`)).toEqual([
      "POST /api/backtests",
      "DELETE /api/backtests/bt-1",
    ]);
    expect(server.subscribes).toEqual([]);
  });
});
