import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

import { freePort } from "./ports";

/**
 * The nginx binary: NGINX_BIN, else `nginx` on the PATH, else Debian's /usr/sbin/nginx, which
 * is not on the PATH of most non-root users.
 */
const NGINX = process.env["NGINX_BIN"] ?? (spawnSync("nginx", ["-v"]).status === 0 ? "nginx" : "/usr/sbin/nginx");

export const NGINX_SKIP_REASON = "nginx is not installed: apt-get install nginx-light (.ci/run installs it)";

/**
 * Returns whether an nginx binary runs. Tests that need one skip without it, except under CI=true, where
 * a missing binary is an error (`.ci/run` installs it).
 */
export function nginxAvailable(): boolean {
  const available = spawnSync(NGINX, ["-v"]).status === 0;
  if (!available && process.env["CI"] === "true") {
    throw new Error(`nginx not found as ${NGINX}; CI must install it (apt-get install nginx-light)`);
  }
  return available;
}

/**
 * How nginx picks an upstream server:
 * - `round-robin`: each new connection goes to the next server, so two requests of one client
 *   may reach two instances (a load balancer without sticky sessions);
 * - `hash-remote-addr`: `hash $remote_addr consistent`, so every connection of one client
 *   address reaches the same instance. nginx's `ip_hash` would not do for tests, because it hashes
 *   only the first three octets of an IPv4 address and so sends every 127.0.0.x client to one
 *   instance.
 */
export type Balancing = "round-robin" | "hash-remote-addr";

export interface TestNginxOptions {
  /** Upstream servers as `host:port`. Required. */
  upstreams: string[];
  /** How a connection is assigned to an upstream. Default `round-robin`. */
  balancing?: Balancing;
  /**
   * `proxy_read_timeout` in seconds. It must stay above socket.io's ping interval plus ping
   * timeout (25 s + 20 s by default), or nginx cuts idle WebSockets. Default 60.
   */
  readTimeoutS?: number;
  /**
   * The Connection header sent upstream. `upgrade-map` sends `upgrade` on a WebSocket upgrade
   * and `close` on other requests, through the usual `map $http_upgrade $connection_upgrade`.
   * `upgrade` sends `upgrade` on every request, as CapRover's server block for an app with
   * WebSocket Support does (caprover/caprover, template/server-block-conf.ejs). Default
   * `upgrade-map`.
   */
  connectionHeader?: "upgrade-map" | "upgrade";
}

/** One line of the access log, which is written when a request or a WebSocket ends. */
export interface AccessLogEntry {
  remoteAddr: string;
  /** The upstream addresses tried, as nginx lists them (`a, b` after a failover), or "" for none. */
  upstreamAddr: string;
  status: number;
  request: string;
}

/**
 * An nginx of the test's own in front of Backplane instances, with the proxy settings of
 * CapRover's server block for an app with WebSocket Support plus an upstream block of our choice.
 * Its config, pid file, logs and temp paths live in a temp directory. It runs in the foreground
 * (`daemon off;`) as a child process and listens on a free port of 127.0.0.1.
 */
export class TestNginx {
  private readonly exited: Promise<void>;

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once("exit", () => resolve());
    });
  }

  static async start(options: TestNginxOptions): Promise<TestNginx> {
    if (options.upstreams.length === 0)
      throw new Error("TestNginx.start: upstreams is empty; give at least one host:port");

    const dir = mkdtempSync(path.join(os.tmpdir(), "backplane-nginx-"));
    // Run as root, nginx's workers drop to `nobody` and must still reach the temp paths here.
    chmodSync(dir, 0o755);

    // The port was free a moment ago; another process may take it first, so try a few.
    let lastError: unknown;
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      const port = await freePort();
      const conf = path.join(dir, "nginx.conf");
      writeFileSync(conf, renderConfig(dir, port, options));
      const child = spawn(NGINX, ["-p", dir, "-c", conf, "-e", path.join(dir, "error.log")], {
        stdio: ["ignore", "ignore", "pipe"],
      });
      const stderr: string[] = [];
      child.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk.toString("utf8")));

      try {
        await waitForListening(child, port, path.join(dir, "nginx.pid"), 10_000);
        return new TestNginx(port, dir, child);
      } catch (err) {
        child.kill("SIGKILL");
        const errorLog = readIfExists(path.join(dir, "error.log"));
        lastError = new Error(
          `nginx did not start on 127.0.0.1:${port}: ${(err as Error).message}\n${stderr.join("")}${errorLog}`,
        );
      }
    }
    rmSync(dir, { recursive: true, force: true });
    throw lastError;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Reads the access log so far, one entry per finished request or WebSocket. */
  accessLog(): AccessLogEntry[] {
    return readIfExists(path.join(this.dir, "access.log"))
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => {
        const entry = JSON.parse(line) as Record<string, string>;
        return {
          remoteAddr: entry["remoteAddr"] ?? "",
          upstreamAddr: entry["upstreamAddr"] ?? "",
          status: Number(entry["status"]),
          request: entry["request"] ?? "",
        };
      });
  }

  /** Reads the error log so far, for failure messages. */
  errorLog(): string {
    return readIfExists(path.join(this.dir, "error.log"));
  }

  /** Stops nginx at once (SIGTERM is its fast shutdown), waits for the exit and removes the directory. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5_000);
    await this.exited;
    clearTimeout(timer);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function renderConfig(dir: string, port: number, options: TestNginxOptions): string {
  const balancing = options.balancing ?? "round-robin";
  const readTimeoutS = options.readTimeoutS ?? 60;
  const servers = options.upstreams.map((upstream) => `    server ${upstream};`).join("\n");
  const hash = balancing === "hash-remote-addr" ? "    hash $remote_addr consistent;\n" : "";
  const connection = (options.connectionHeader ?? "upgrade-map") === "upgrade" ? '"upgrade"' : "$connection_upgrade";

  return `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;

events {
  worker_connections 1024;
}

http {
  log_format upstreams escape=json
    '{"remoteAddr":"$remote_addr","upstreamAddr":"$upstream_addr","status":"$status","request":"$request"}';
  access_log ${dir}/access.log upstreams;

  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;

  # Without a keepalive directive in the upstream block, nginx opens a new upstream connection
  # for every request, so each request is balanced on its own.
  map $http_upgrade $connection_upgrade {
    default upgrade;
    '' close;
  }

  upstream backplane {
${hash}${servers}
  }

  server {
    listen 127.0.0.1:${port};
    client_max_body_size 500m;

    location / {
      proxy_pass http://backplane;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection ${connection};
      proxy_set_header Host $host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_read_timeout ${readTimeoutS}s;
      proxy_send_timeout ${readTimeoutS}s;
    }
  }
}
`;
}

/** Resolves once nginx wrote its pid file and accepts connections; rejects if it exits first. */
async function waitForListening(child: ChildProcess, port: number, pidFile: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`nginx exited with code ${child.exitCode} and signal ${child.signalCode}`);
    }
    // The pid file comes after the listening sockets, so a connection then reaches this nginx.
    if (existsSync(pidFile) && (await canConnect(port))) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`not listening after ${timeoutMs} ms`);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function readIfExists(file: string): string {
  return existsSync(file) ? readFileSync(file, "utf8") : "";
}
