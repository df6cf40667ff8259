import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";

import { freePort } from "./ports";

export const ROOT = path.resolve(__dirname, "../..");
const MAIN = path.join(ROOT, "dist/src/main.js");

export type LogLine = Record<string, unknown> & { msg?: string; role?: string; level?: number };

export interface BackplaneOptions {
  env?: Record<string, string | undefined>;
  webWorkers?: number;
  /**
   * Resolve `start()` only once every web worker logged that it is ready and, with Redis
   * configured, that its queue is connected. Default true.
   */
  waitForWorkers?: boolean;
  entry?: string;
}

/**
 * One Backplane instance (a cluster primary and its children) run from the compiled output as a
 * child process, with its pino JSON lines parsed for assertions.
 */
export class BackplaneProcess {
  readonly lines: LogLine[] = [];
  readonly rawOutput: string[] = [];
  private readonly waiters = new Set<() => void>();
  private child: ChildProcess | undefined;
  private exitCode: Promise<number | null> | undefined;

  private constructor(
    readonly port: number,
    private readonly options: BackplaneOptions,
  ) {}

  static async start(options: BackplaneOptions = {}): Promise<BackplaneProcess> {
    const port = Number(options.env?.["PORT"] ?? (await freePort()));
    const instance = new BackplaneProcess(port, options);
    instance.launch();
    await instance.waitForLog((line) => line.msg === "Backplane primary listening", 30_000);
    if (options.waitForWorkers !== false) {
      const workers = options.webWorkers ?? 2;
      await instance.waitFor(
        () => instance.count((line) => line.msg === "web worker ready") >= workers,
        30_000,
        `${workers} web workers ready`,
      );
      if (options.env?.["REDIS_URL"] !== undefined || options.env?.["ConnectionStrings__Redis"] !== undefined) {
        await instance.waitFor(
          () => instance.count((line) => line.msg === "backtest queue connected") >= workers,
          30_000,
          `${workers} queues connected`,
        );
      }
    }
    return instance;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private launch(): void {
    const env: Record<string, string | undefined> = {
      PATH: process.env["PATH"],
      HOME: process.env["HOME"],
      PORT: String(this.port),
      HOST: "127.0.0.1",
      WEB_CONCURRENCY: String(this.options.webWorkers ?? 2),
      LOG_LEVEL: "info",
      SHUTDOWN_TIMEOUT_MS: "5000",
      RESPAWN_BACKOFF_MS: "200",
      ...this.options.env,
    };
    const child = spawn(process.execPath, [this.options.entry ?? MAIN], { env, stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    this.exitCode = new Promise((resolve) => child.once("exit", (code) => resolve(code)));

    let buffered = "";
    const onData = (chunk: Buffer) => {
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
  }

  private addLine(text: string): void {
    this.rawOutput.push(text);
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === "object" && parsed !== null) this.lines.push(parsed as LogLine);
    } catch {
      // Not a pino line (for example a Node warning); kept in rawOutput only.
    }
    for (const wake of this.waiters) wake();
  }

  count(predicate: (line: LogLine) => boolean): number {
    return this.lines.filter(predicate).length;
  }

  async waitForLog(predicate: (line: LogLine) => boolean, timeoutMs = 15_000): Promise<LogLine> {
    let found: LogLine | undefined;
    await this.waitFor(() => (found = this.lines.find(predicate)) !== undefined, timeoutMs, "a matching log line");
    return found as LogLine;
  }

  waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}; last output:\n${this.rawOutput.slice(-20).join("\n")}`,
          ),
        );
      }, timeoutMs);
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }

  /** Sends a signal to the primary and resolves with its exit code. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    const child = this.child;
    if (child === undefined) return null;
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return this.exitCode ?? null;
  }

  /** Web worker pids, from their "web worker ready" lines. */
  webWorkerPids(): number[] {
    return this.lines.filter((line) => line.msg === "web worker ready").map((line) => Number(line["pid"]));
  }
}
