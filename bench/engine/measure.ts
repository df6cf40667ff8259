/** Timing helpers of the engine benchmark. */
import { readFileSync } from "node:fs";

/** Wall time and this thread's CPU time of one measured call, in milliseconds. */
export interface Timing {
  wallMs: number;
  /** NaN where /proc/thread-self/schedstat is missing (outside Linux). */
  cpuMs: number;
}

/** Summary of repeated timings: the median and the best, wall and CPU. */
export interface TimingSummary {
  runs: number;
  medianWallMs: number;
  bestWallMs: number;
  medianCpuMs: number;
}

/**
 * CPU time of the calling thread in ms, from Linux's /proc/thread-self/schedstat (nanoseconds on
 * a CPU), or NaN elsewhere. Unlike wall time it leaves out the time this thread waited while other
 * processes had the cores; unlike `process.cpuUsage` it leaves out the other threads.
 */
export function threadCpuMs(): number {
  try {
    return Number(readFileSync("/proc/thread-self/schedstat", "utf8").split(" ")[0]) / 1e6;
  } catch {
    return NaN;
  }
}

/**
 * Runs `action` once and returns its wall and thread CPU time. Runs are deliberately not
 * separated by a forced `gc()` (--expose-gc): here it made the bar loop about four times slower,
 * as a full collection may discard optimised code.
 */
export function time(action: () => void): Timing {
  const cpuBefore = threadCpuMs();
  const started = performance.now();
  action();
  const wallMs = performance.now() - started;
  return { wallMs, cpuMs: threadCpuMs() - cpuBefore };
}

export async function timeAsync(action: () => Promise<unknown>): Promise<Timing> {
  const cpuBefore = threadCpuMs();
  const started = performance.now();
  await action();
  const wallMs = performance.now() - started;
  return { wallMs, cpuMs: threadCpuMs() - cpuBefore };
}

export function summarize(timings: readonly Timing[]): TimingSummary {
  return {
    runs: timings.length,
    medianWallMs: median(timings.map((timing) => timing.wallMs)),
    bestWallMs: Math.min(...timings.map((timing) => timing.wallMs)),
    medianCpuMs: median(timings.map((timing) => timing.cpuMs)),
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Rounds to `digits` significant digits, for readable JSON and tables. */
export function round(value: number, digits = 4): number {
  return Number(value.toPrecision(digits));
}
