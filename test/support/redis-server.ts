import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

import { freePort } from "./ports";

const REDIS_SERVER = process.env["REDIS_SERVER_BIN"] ?? "/usr/bin/redis-server";

/**
 * Whether redis-server is installed. Tests that need their own Redis skip without it, except
 * under CI=true, where a missing binary is an error (`.ci/run` installs it).
 */
export function redisServerAvailable(): boolean {
  if (existsSync(REDIS_SERVER)) return true;
  if (process.env["CI"] === "true") {
    throw new Error(`redis-server not found at ${REDIS_SERVER}; CI must install it (apt-get install redis-server)`);
  }
  return spawnSync("redis-server", ["--version"]).status === 0;
}

export const REDIS_SKIP_REASON = "redis-server is not installed: apt-get install redis-server (see README)";

export interface RedisServerOptions {
  port?: number;
  /** Append-only persistence, as production Redis for BullMQ runs. */
  appendOnly?: boolean;
  requirePass?: string;
  /** Reuse a data directory across restarts on the same port. */
  dir?: string;
}

/** A redis-server of the test's own, on 127.0.0.1 and a free port. */
export class TestRedisServer {
  readonly port: number;
  readonly dir: string;
  private process: ChildProcess | undefined;
  private readonly ownsDir: boolean;

  private constructor(
    port: number,
    dir: string,
    ownsDir: boolean,
    private readonly options: RedisServerOptions,
  ) {
    this.port = port;
    this.dir = dir;
    this.ownsDir = ownsDir;
  }

  static async start(options: RedisServerOptions = {}): Promise<TestRedisServer> {
    const port = options.port ?? (await freePort());
    const ownsDir = options.dir === undefined;
    const dir = options.dir ?? mkdtempSync(path.join(os.tmpdir(), "backplane-redis-"));
    const server = new TestRedisServer(port, dir, ownsDir, options);
    await server.launch();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async launch(): Promise<void> {
    const args = [
      "--port",
      String(this.port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--dir",
      this.dir,
      "--daemonize",
      "no",
    ];
    args.push("--appendonly", this.options.appendOnly ? "yes" : "no");
    if (this.options.appendOnly) args.push("--appendfsync", "everysec");
    if (this.options.requirePass !== undefined) args.push("--requirepass", this.options.requirePass);
    this.process = spawn(REDIS_SERVER, args, { stdio: "ignore" });
    await waitForPort(this.port, 10_000);
  }

  /** Kills the server with SIGKILL, as a crash would. */
  async kill(): Promise<void> {
    const child = this.process;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  }

  /** Stops the server with SIGTERM, which saves the append-only file first. */
  async stop(): Promise<void> {
    const child = this.process;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }

  async dispose(): Promise<void> {
    await this.stop();
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`redis-server did not listen on port ${port} within ${timeoutMs} ms`);
}
