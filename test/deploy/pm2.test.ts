import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, test } from "vitest";

import { GOOG_BACKTEST, callApi, pollUntil, waitForBacktest } from "../support/api";
import { ROOT, type LogLine } from "../support/backplane";
import { freePort } from "../support/ports";
import { killSurvivors, processExists, waitForProcessesGone } from "../support/process-tree";
import { REDIS_SKIP_REASON, TestRedisServer, redisServerAvailable } from "../support/redis-server";

const PM2_BIN = path.join(ROOT, "node_modules/pm2/bin/pm2");
const WEB_APP = "backplane-web";
const JOBS_APP = "backplane-jobs";
/** Maximum time of one pm2 command; `pm2 reload` waits for the old primary's ordered shutdown. */
const PM2_COMMAND_TIMEOUT_MS = 60_000;

interface Pm2App {
  name: string;
  pid: number;
  status: string;
  execMode: string;
  /** The app's environment as PM2 passes it, among PM2's own fields. */
  env: Record<string, unknown>;
  outLogPath: string;
}

interface CommandResult {
  code: number | null;
  output: string;
}

/** The pm2 command line of this repository's devDependency, with a PM2_HOME of the test's own. */
class Pm2Cli {
  constructor(private readonly env: Record<string, string>) {}

  get home(): string {
    return this.env["PM2_HOME"] ?? "";
  }

  /** Runs `pm2 ...args` in the repository root and resolves with its exit code and output. */
  run(args: string[]): Promise<CommandResult> {
    const child = spawn(process.execPath, [PM2_BIN, ...args], {
      cwd: ROOT,
      env: this.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    const killTimer = setTimeout(() => child.kill("SIGKILL"), PM2_COMMAND_TIMEOUT_MS);

    return new Promise((resolve, reject) => {
      child.once("error", reject);
      child.once("close", (code) => {
        clearTimeout(killTimer);
        resolve({ code, output });
      });
    });
  }

  /** Runs a command that must succeed, and fails the test with its output otherwise. */
  async expectSuccess(args: string[]): Promise<string> {
    const result = await this.run(args);
    if (result.code !== 0) throw new Error(`pm2 ${args.join(" ")} exited with ${result.code}:\n${result.output}`);
    return result.output;
  }

  /** The apps as `pm2 jlist` returns them. */
  async list(): Promise<Pm2App[]> {
    const output = await this.expectSuccess(["jlist"]);
    // jlist prints one JSON array; anything before it is a PM2 notice.
    const parsed = JSON.parse(output.slice(output.indexOf("["))) as {
      name: string;
      pid: number;
      pm2_env: Record<string, unknown> & { status: string; exec_mode: string; pm_out_log_path: string };
    }[];
    return parsed.map((app) => ({
      name: app.name,
      pid: app.pid,
      status: app.pm2_env.status,
      execMode: app.pm2_env.exec_mode,
      env: app.pm2_env,
      outLogPath: app.pm2_env.pm_out_log_path,
    }));
  }

  async app(name: string): Promise<Pm2App> {
    const app = (await this.list()).find((candidate) => candidate.name === name);
    if (app === undefined) throw new Error(`pm2 runs no app named ${name}`);
    return app;
  }

  /** Pid of the PM2 daemon of this PM2_HOME, or undefined when it is not running. */
  daemonPid(): number | undefined {
    const file = path.join(this.home, "pm2.pid");
    if (!existsSync(file)) return undefined;
    const pid = Number(readFileSync(file, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  }
}

/** Reads the pino lines of a PM2 log file and leaves out the others (PM2 notices, Node warnings). */
function readLogLines(file: string): LogLine[] {
  if (!existsSync(file)) return [];
  const lines: LogLine[] = [];
  for (const text of readFileSync(file, "utf8").split("\n")) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === "object" && parsed !== null) lines.push(parsed as LogLine);
    } catch {
      // Not a pino line.
    }
  }
  return lines;
}

/** Pids of the web workers that logged "web worker ready" in `file`. */
function webWorkerPids(file: string): number[] {
  return readLogLines(file)
    .filter((line) => line.msg === "web worker ready")
    .map((line) => Number(line["pid"]));
}

/** Polls `path` until it returns 200. Connection errors while the primary starts count as "not yet". */
async function waitFor200(url: string, path: "/healthz" | "/readyz"): Promise<void> {
  await pollUntil(
    async () => {
      try {
        return (await callApi(url, "GET", path, { timeoutMs: 2_000 })).status === 200 ? true : undefined;
      } catch {
        return undefined;
      }
    },
    { timeoutMs: 30_000, intervalMs: 200, what: `GET ${url}${path} to answer 200` },
  );
}

/** Waits until the instance is up (`/healthz`) and its web worker reaches Redis (`/readyz`), so that jobs are accepted. */
async function waitForServing(url: string): Promise<void> {
  await waitFor200(url, "/healthz");
  await waitFor200(url, "/readyz");
}

/** Submits the GOOG backtest and waits until a job process completed it. */
async function runBacktest(url: string): Promise<void> {
  const submitted = await callApi(url, "POST", "/api/backtests", { json: GOOG_BACKTEST });
  expect(submitted.status).toBe(202);
  const { id } = submitted.body as { id: string };

  const snapshot = await waitForBacktest(url, id, ["completed", "failed", "cancelled"], 60_000);
  expect(snapshot.state).toBe("completed");
  expect(snapshot.result?.stats.trades).toBeGreaterThan(0);
}

/**
 * `pm2 start ecosystem.config.js`, `pm2 reload` and `pm2 stop` with the real pm2 package: the primary runs in
 * fork mode and owns the cluster, and job processes run as PM2's second app.
 */
describe.skipIf(!redisServerAvailable())(
  `PM2 ecosystem file${redisServerAvailable() ? "" : ` (${REDIS_SKIP_REASON})`}`,
  () => {
    let redis: TestRedisServer;
    let pm2: Pm2Cli;
    let pm2Home: string;
    let url: string;
    /** Every Backplane pid seen, so that afterAll can kill what a failed test left behind. */
    const seenPids = new Set<number>();

    beforeAll(async () => {
      redis = await TestRedisServer.start();
      pm2Home = mkdtempSync(path.join(os.tmpdir(), "backplane-pm2-"));
      // PM2 reports its first start to its maker's server unless this file exists; tests send no traffic outside
      // this machine.
      writeFileSync(path.join(pm2Home, "touch"), String(Date.now()));

      const port = await freePort();
      url = `http://127.0.0.1:${port}`;
      pm2 = new Pm2Cli({
        PATH: process.env["PATH"] ?? "",
        HOME: process.env["HOME"] ?? pm2Home,
        PM2_HOME: pm2Home,
        PM2_DISABLE_VERSION_CHECK: "true",
        PORT: String(port),
        HOST: "127.0.0.1",
        REDIS_URL: redis.url,
        REDIS_PREFIX: `test-${randomUUID().slice(0, 8)}`,
        WEB_CONCURRENCY: "1",
        JOB_INSTANCES: "1",
        SHUTDOWN_TIMEOUT_MS: "5000",
        RESPAWN_BACKOFF_MS: "200",
        LOG_LEVEL: "info",
      });
    });

    afterAll(async () => {
      const daemonPid = pm2?.daemonPid();
      if (pm2 !== undefined) await pm2.run(["kill"]);
      if (daemonPid !== undefined) await waitForProcessesGone([daemonPid], 10_000);
      killSurvivors([...seenPids]);
      await redis?.dispose();
      if (pm2Home !== undefined) rmSync(pm2Home, { recursive: true, force: true });
    });

    async function recordPids(): Promise<{ web: Pm2App; jobs: Pm2App; workers: number[] }> {
      const web = await pm2.app(WEB_APP);
      const jobs = await pm2.app(JOBS_APP);
      const workers = webWorkerPids(web.outLogPath);
      for (const pid of [web.pid, jobs.pid, ...workers]) if (pid > 0) seenPids.add(pid);
      return { web, jobs, workers };
    }

    test("start serves the API and runs a backtest", { timeout: 120_000 }, async () => {
      await pm2.expectSuccess(["start", "ecosystem.config.js"]);
      await waitForServing(url);

      const { web, jobs } = await recordPids();
      expect(web.status).toBe("online");
      expect(web.execMode).toBe("fork_mode");
      expect(web.env["JOB_PROCESSES"]).toBe("0");
      expect(jobs.status).toBe("online");
      expect(jobs.execMode).toBe("fork_mode");

      await runBacktest(url);

      // The primary forked its web worker and no job process: PM2 runs those.
      const primaryLines = readLogLines(web.outLogPath).filter((line) => line.role === "primary");
      const listening = primaryLines.find((line) => line.msg === "Backplane primary listening");
      expect(listening?.["webWorkers"]).toBe(1);
      expect(listening?.["jobProcesses"]).toBe(0);
      expect(primaryLines.filter((line) => line.msg === "child started" && line["child"] === "jobs")).toEqual([]);
    });

    test("reload replaces the primary and keeps serving", { timeout: 120_000 }, async () => {
      const before = await recordPids();
      expect(before.workers.length).toBeGreaterThan(0);

      await pm2.expectSuccess(["reload", "ecosystem.config.js"]);

      // The old primary, its web workers and the old job process are gone, not orphaned.
      await waitForProcessesGone([before.web.pid, before.jobs.pid, ...before.workers], 20_000);
      const after = await pollUntil(
        async () => {
          const web = await pm2.app(WEB_APP);
          return web.status === "online" && web.pid !== before.web.pid ? web : undefined;
        },
        { timeoutMs: 20_000, what: `${WEB_APP} online with a new pid` },
      );
      expect(processExists(after.pid)).toBe(true);
      const jobs = await pm2.app(JOBS_APP);
      expect(jobs.status).toBe("online");
      expect(jobs.pid).not.toBe(before.jobs.pid);

      await waitForServing(url);
      await runBacktest(url);
    });

    test("stop ends every process", { timeout: 60_000 }, async () => {
      await recordPids();

      await pm2.expectSuccess(["stop", "ecosystem.config.js"]);

      const apps = await pm2.list();
      expect(apps.map((app) => [app.name, app.status]).sort()).toEqual([
        [JOBS_APP, "stopped"],
        [WEB_APP, "stopped"],
      ]);
      // Every primary, web worker and job process of the test, before and after the reload.
      await waitForProcessesGone([...seenPids], 20_000);
      await expect(callApi(url, "GET", "/healthz", { timeoutMs: 2_000 })).rejects.toThrow();
    });
  },
);
