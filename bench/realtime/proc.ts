/**
 * CPU time and memory of server processes, read from Linux's /proc, so that the figures include
 * every process of a server (primary, web workers, job processes) without instrumenting them.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of utime and stime in /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const CLOCK_TICKS_PER_S = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
const PAGE_BYTES = Number(execFileSync("getconf", ["PAGESIZE"], { encoding: "utf8" }).trim()) || 4096;

export interface ProcessSample {
  pid: number;
  /** User plus system CPU time since the process started, in seconds. */
  cpuS: number;
  /** Resident set size, in bytes. */
  rssBytes: number;
}

interface StatFields {
  ppid: number;
  cpuS: number;
  rssBytes: number;
}

/** Parses /proc/<pid>/stat; undefined once the process is gone. */
function readStat(pid: number): StatFields | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name in field 2 may contain spaces and parentheses, so the fields are counted
  // from the last closing parenthesis: after it come field 3 (state), 4 (ppid), ... 14 (utime),
  // 15 (stime), ... 24 (rss in pages).
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return {
    ppid: Number(rest[1]),
    cpuS: (utime + stime) / CLOCK_TICKS_PER_S,
    rssBytes: Number(rest[21]) * PAGE_BYTES,
  };
}

/** Samples one process; undefined once it is gone. */
export function sampleProcess(pid: number): ProcessSample | undefined {
  const stat = readStat(pid);
  return stat === undefined ? undefined : { pid, cpuS: stat.cpuS, rssBytes: stat.rssBytes };
}

/** Returns `rootPid` and every process below it, children before grandchildren. */
export function processTree(rootPid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (stat === undefined) continue;
    const siblings = parents.get(stat.ppid) ?? [];
    siblings.push(pid);
    parents.set(stat.ppid, siblings);
  }

  const tree = [rootPid];
  for (let i = 0; i < tree.length; i += 1) {
    tree.push(...(parents.get(tree[i] ?? -1) ?? []));
  }
  return tree;
}

/** CPU and memory of a fixed set of processes, as a sum. */
export interface GroupSample {
  at: number;
  cpuS: number;
  rssBytes: number;
  /** Per-process figures, for RSS per web worker. */
  processes: ProcessSample[];
}

export function sampleGroup(pids: readonly number[]): GroupSample {
  const processes = pids.flatMap((pid) => sampleProcess(pid) ?? []);
  return {
    at: Date.now(),
    cpuS: processes.reduce((sum, sample) => sum + sample.cpuS, 0),
    rssBytes: processes.reduce((sum, sample) => sum + sample.rssBytes, 0),
    processes,
  };
}

/**
 * CPU seconds spent by a group between two samples. A process that exited in between counts
 * for nothing after its last sample, so callers sample around windows in which no process dies.
 */
export function cpuSecondsBetween(before: GroupSample, after: GroupSample): number {
  let total = 0;
  for (const sample of after.processes) {
    const earlier = before.processes.find((candidate) => candidate.pid === sample.pid);
    total += sample.cpuS - (earlier?.cpuS ?? 0);
  }
  return total;
}

/**
 * Returns the pid of the redis-server below this process that listens on `port`, if any. Redis
 * rewrites its command line to `redis-server <address>:<port>`, so the whole line is searched.
 */
export function redisServerPid(port: number): number | undefined {
  return processTree(process.pid).find((pid) => {
    try {
      const name = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
      const commandLine = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      return name === "redis-server" && (commandLine.includes(`:${port}`) || commandLine.includes(`--port ${port}`));
    } catch {
      return false;
    }
  });
}
