/** The machine a run measured, as written into every result entry. */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";

import { round } from "./clock";

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  redis: string;
  kernel: string;
  /** The soft limit of open files that the server and generator processes inherit. */
  openFilesLimit: number;
}

/** Returns the soft RLIMIT_NOFILE of this process, from /proc/self/limits. */
export function openFilesLimit(): number {
  const line = readFileSync("/proc/self/limits", "utf8")
    .split("\n")
    .find((candidate) => candidate.startsWith("Max open files"));
  return Number(line?.split(/\s+/)[3] ?? 0);
}

function redisVersion(): string {
  try {
    const output = execFileSync(process.env["REDIS_SERVER_BIN"] ?? "redis-server", ["--version"], { encoding: "utf8" });
    return /v=(\S+)/.exec(output)?.[1] ?? output.trim();
  } catch {
    return "not installed";
  }
}

export function describeMachine(): Machine {
  return {
    cpu: os.cpus()[0]?.model.trim() ?? "unknown",
    cores: os.availableParallelism(),
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    redis: redisVersion(),
    kernel: `${os.type()} ${os.release()}`,
    openFilesLimit: openFilesLimit(),
  };
}

/** Returns the 1-, 5- and 15-minute load averages. */
export function loadAverage(): number[] {
  return os.loadavg().map((value) => round(value, 2));
}
