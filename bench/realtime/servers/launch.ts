/**
 * Starts and stops the servers under test as child processes of the coordinator: the product
 * (the compiled `npm start` entry with the bench hook preloaded), the stock socket.io servers
 * and the publisher processes.
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { freePort } from "../../../test/support/ports";
import { sleep } from "../clock";
import { Requester, waitForEvent, type Endpoint } from "../ipc";
import { processTree } from "../proc";
import type { PublisherCommands, ServerCommands } from "./commands";

const DIST = path.resolve(__dirname, "../../..");
const PRODUCT_ENTRY = path.join(DIST, "src/main.js");
const PRODUCT_HOOK = path.join(__dirname, "product-hook.js");
const STOCK_ENTRY = path.join(__dirname, "stock-server.js");
const RAW_WS_ENTRY = path.join(__dirname, "raw-ws-server.js");
const PUBLISHER_ENTRY = path.join(__dirname, "../publish/redis-publisher.js");

/** Flags of every server process: a full GC on request, and no heap limit below the connection counts. */
const SERVER_EXEC_ARGV = ["--expose-gc", "--max-old-space-size=16384"];

/** How many of a child's last output lines are kept for error messages. */
const KEPT_LINES = 40;

/** A server under test, as the scenarios see it. */
export interface ServerUnderTest {
  label: string;
  /** Ports that clients connect to: one per instance. */
  ports: number[];
  /** Pids of the server's processes now (primaries, web workers, job processes), without Redis. */
  pids(): number[];
  /** Pids of the web worker processes, or of the single process of a one-process baseline. */
  webWorkerPids(): number[];
  commands: Requester<ServerCommands>[];
  stop(): Promise<void>;
}

/** A child process whose output is kept and parsed as pino lines. */
class ManagedChild {
  readonly lines: Record<string, unknown>[] = [];
  private readonly tail: string[] = [];
  private readonly waiters = new Set<() => void>();
  readonly exited: Promise<void>;

  constructor(
    readonly label: string,
    readonly child: ChildProcess,
  ) {
    let buffered = "";
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString("utf8");
      let newline = buffered.indexOf("\n");
      while (newline >= 0) {
        this.addLine(buffered.slice(0, newline));
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf("\n");
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.label} did not start`);
    return this.child.pid;
  }

  private addLine(text: string): void {
    this.tail.push(text);
    if (this.tail.length > KEPT_LINES) this.tail.shift();
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === "object" && parsed !== null) this.lines.push(parsed as Record<string, unknown>);
    } catch {
      // Not a pino line; kept in the tail only.
    }
    for (const wake of this.waiters) wake();
  }

  count(message: string): number {
    return this.lines.filter((line) => line["msg"] === message).length;
  }

  waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(
            `${this.label}: timed out after ${timeoutMs} ms waiting for ${what}; last output:\n${this.tail.join("\n")}`,
          ),
        );
      }, timeoutMs);
      const check = (): void => {
        if (!condition()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }

  /** SIGTERM, then SIGKILL to the whole tree when it has not exited after `graceMs`. */
  async stop(graceMs = 8_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const tree = processTree(this.pid);
    this.child.kill("SIGTERM");
    const stopped = await Promise.race([this.exited.then(() => true), sleep(graceMs).then(() => false)]);
    for (const pid of tree) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Already gone, as it should be after an ordered stop.
      }
    }
    if (!stopped) await this.exited;
  }

  outputTail(): string {
    return this.tail.join("\n");
  }
}

export interface ProductOptions {
  label: string;
  webWorkers: number;
  redisUrl?: string;
  jobProcesses?: number;
  jobConcurrency?: number;
  instanceId?: string;
  /** Directory for the job processes' emit traces (progress scenario). */
  traceDirectory?: string;
  env?: Record<string, string>;
}

/** One product instance: `node dist/src/main.js` with the bench hook, on a free port. */
export async function startProduct(options: ProductOptions): Promise<ServerUnderTest & { child: ManagedChild }> {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "backplane-bench-data-"));
  const env: Record<string, string> = {
    PATH: process.env["PATH"] ?? "",
    HOME: process.env["HOME"] ?? "",
    PORT: String(port),
    HOST: "127.0.0.1",
    WEB_CONCURRENCY: String(options.webWorkers),
    JOB_PROCESSES: String(options.jobProcesses ?? 0),
    JOB_CONCURRENCY: String(options.jobConcurrency ?? 1),
    LOG_LEVEL: "info",
    SHUTDOWN_TIMEOUT_MS: "5000",
    INSTANCE_ID: options.instanceId ?? options.label.replace(/[^a-zA-Z0-9-]/g, "-"),
    REDIS_PREFIX: "bench",
    DATA_DIR: dataDir,
    ...(options.redisUrl === undefined ? {} : { REDIS_URL: options.redisUrl }),
    ...(options.traceDirectory === undefined ? {} : { BENCH_TRACE_DIR: options.traceDirectory }),
    ...options.env,
  };
  const child = new ManagedChild(
    options.label,
    fork(PRODUCT_ENTRY, [], {
      env,
      execArgv: [...SERVER_EXEC_ARGV, "--require", PRODUCT_HOOK],
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    }),
  );

  try {
    await child.waitFor(() => child.count("Backplane primary listening") >= 1, 60_000, "the primary to listen");
    await child.waitFor(
      () => child.count("web worker ready") >= options.webWorkers,
      60_000,
      `${options.webWorkers} web workers`,
    );
    if (options.redisUrl !== undefined) {
      await child.waitFor(
        () => child.count("backtest queue connected") >= options.webWorkers,
        60_000,
        "the queues to connect",
      );
    }
    if ((options.jobProcesses ?? 0) > 0) {
      await child.waitFor(
        () => child.count("job process ready") >= (options.jobProcesses ?? 0),
        60_000,
        "the job processes",
      );
    }
  } catch (err) {
    await child.stop();
    throw err;
  }

  const webWorkerPids = (): number[] => {
    const ready = child.lines.filter((line) => line["msg"] === "web worker ready").map((line) => Number(line["pid"]));
    const alive = new Set(processTree(child.pid));
    return ready.filter((pid) => alive.has(pid));
  };
  return {
    label: options.label,
    ports: [port],
    child,
    pids: () => processTree(child.pid),
    webWorkerPids,
    commands: [new Requester<ServerCommands>(child.child, options.label)],
    stop: async () => {
      await child.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface StockOptions {
  label: string;
  /** 0 for one process without an adapter. */
  workers: number;
  adapter: "none" | "cluster" | "redis";
  redisUrl?: string;
  respawnMs?: number;
  /** Run the raw `ws` reference server (servers/raw-ws-server.ts) instead of socket.io; one process. */
  rawWs?: boolean;
}

/** Starts one stock socket.io server (bench/realtime/servers/stock-server.ts) on a free port. */
export async function startStock(options: StockOptions): Promise<ServerUnderTest> {
  const port = await freePort();
  const env: Record<string, string> = {
    PATH: process.env["PATH"] ?? "",
    STOCK_WORKERS: String(options.workers),
    STOCK_ADAPTER: options.adapter,
    STOCK_PORT: String(port),
    STOCK_RESPAWN_MS: String(options.respawnMs ?? 1000),
    ...(options.redisUrl === undefined ? {} : { STOCK_REDIS_URL: options.redisUrl }),
  };
  const child = new ManagedChild(
    options.label,
    fork(options.rawWs === true ? RAW_WS_ENTRY : STOCK_ENTRY, [], {
      env,
      execArgv: SERVER_EXEC_ARGV,
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    }),
  );
  try {
    await waitForEvent(child.child as Endpoint, "ready", 60_000, options.label);
  } catch (err) {
    await child.stop();
    throw new Error(`${(err as Error).message}; last output:\n${child.outputTail()}`);
  }

  const pids = (): number[] => processTree(child.pid);
  return {
    label: options.label,
    ports: [port],
    pids,
    webWorkerPids: () => (options.workers === 0 ? [child.pid] : pids().filter((pid) => pid !== child.pid)),
    commands: [new Requester<ServerCommands>(child.child, options.label)],
    stop: () => child.stop(),
  };
}

/** Several servers that clients reach as one (instances joined by Redis). */
export function combine(label: string, servers: ServerUnderTest[]): ServerUnderTest {
  return {
    label,
    ports: servers.flatMap((server) => server.ports),
    pids: () => servers.flatMap((server) => server.pids()),
    webWorkerPids: () => servers.flatMap((server) => server.webWorkerPids()),
    commands: servers.flatMap((server) => server.commands),
    stop: async () => {
      await Promise.all(servers.map((server) => server.stop()));
    },
  };
}

export interface RedisPublisher {
  commands: Requester<PublisherCommands>;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Starts the publisher process of the Redis setups. `product` emits through the product's
 * RedisSnapshotStore: the Lua script numbers, stores and publishes an event, which every web
 * worker's relay receives. `stock` emits to the room from a socket.io server with the Redis
 * adapter and no clients.
 */
export async function startRedisPublisher(mode: "product" | "stock", redisUrl: string): Promise<RedisPublisher> {
  const child: ChildProcess = fork(PUBLISHER_ENTRY, [], {
    env: { ...process.env, BENCH_PUBLISHER_MODE: mode, BENCH_REDIS_URL: redisUrl, BENCH_REDIS_PREFIX: "bench" },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  await waitForEvent(child as Endpoint, "ready", 30_000, `${mode} publisher`);
  const commands = new Requester<PublisherCommands>(child, `${mode} publisher`);
  return {
    commands,
    pid: child.pid ?? 0,
    stop: async () => {
      commands.dispose();
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    },
  };
}
