/**
 * The open-loop rate sweep shared by the fanout and adapters scenarios. One publisher sends to one
 * room at rising rates. Each step reports the deliveries per second, the latency from the
 * message's due time to its receipt, delivered ÷ expected, and the server's CPU and memory.
 * A step passes while its p99 stays below the limit and nothing is lost. A sweep goes on past the
 * limit while the server still keeps up (nothing lost, p99 under a second), so that rooms too
 * large for the limit still get a capacity figure, and stops at the first step that falls behind.
 */
import { monotonicMs, round, sleep } from "../clock";
import type { GeneratorPool } from "../generator/pool";
import { summarize, type LatencySummary } from "../histogram";
import { cpuSecondsBetween, sampleGroup } from "../proc";
import type { PublishReport, PublishSpec } from "../publish/open-loop";
import type { ServerUnderTest } from "../servers/launch";

export interface SweepSettings {
  /** Backtest id of the room. */
  id: string;
  /** Clients subscribed to the room. */
  subscribers: number;
  /** Offered deliveries per second of each step, rising. */
  levels: number[];
  stepMs: number;
  payloadBytes: number;
  /** A step passes while its p99 stays below this, in milliseconds. */
  p99LimitMs: number;
  /** A step passes while delivered ÷ expected stays at or above this. */
  minDeliveredRatio: number;
  /** The server keeps up while p99 stays below this, in milliseconds; the sweep stops after the first step above it. */
  keepUpP99Ms: number;
  /** Maximum wait after the last message for the rest to arrive, in milliseconds. */
  drainTimeoutMs: number;
}

export interface SweepStep {
  offeredDeliveriesPerSecond: number;
  messagesPerSecond: number;
  published: number;
  expected: number;
  delivered: number;
  deliveredRatio: number;
  deliveriesPerSecond: number;
  latency: LatencySummary;
  /** CPU seconds of the server's processes (without Redis) per million deliveries. */
  serverCpuSecondsPerMillion: number;
  /** CPU seconds of the web worker processes alone per million deliveries. */
  webWorkerCpuSecondsPerMillion: number;
  /** CPU seconds of redis-server per million deliveries, where Redis is used. */
  redisCpuSecondsPerMillion: number | null;
  /** Deliveries per CPU second of the web workers: what one fully used worker core would deliver. */
  deliveriesPerWorkerCpuSecond: number;
  serverRssMiB: number;
  /** Highest event loop utilization of one load generator (0 to 1), showing its headroom. */
  generatorMaxEventLoopUtilization: number;
  /** CPU of all load generators, in cores. */
  generatorCpuCores: number;
  /** How late the publisher fell behind its schedule at worst, in milliseconds. */
  publisherMaxLagMs: number;
  /** Clients whose connection ended during the step. */
  clientsClosed: number;
  /** p99 below the limit and nothing lost. */
  passed: boolean;
  /** Nothing lost and p99 below the keep-up bound: the server sustained the rate, however late. */
  keptUp: boolean;
  /** The p99 of the first attempt, when the step missed the limit and was run again. */
  firstAttemptP99Ms?: number;
}

export interface SweepResult {
  steps: SweepStep[];
  /** The passing step with the most deliveries per second. */
  best: SweepStep | undefined;
  /** The step with the most deliveries per second that the server kept up with. */
  sustained: SweepStep | undefined;
}

export interface SweepTarget {
  server: ServerUnderTest;
  publish(spec: PublishSpec): Promise<PublishReport>;
  /** pid of the redis-server the setup uses, if any. */
  redisPid?: number;
}

/** Runs one step: publish for `stepMs`, wait for the deliveries, read the server's counters. */
export async function runStep(
  target: SweepTarget,
  pool: GeneratorPool,
  settings: SweepSettings,
  offered: number,
  firstCounter: number,
): Promise<{ step: SweepStep; nextCounter: number }> {
  const messagesPerSecond = offered / settings.subscribers;
  const serverPids = target.server.pids();
  const workerPids = new Set(target.server.webWorkerPids());
  const before = sampleGroup(serverPids);
  const redisBefore = target.redisPid === undefined ? undefined : sampleGroup([target.redisPid]);
  await pool.measureStart("timed");

  const publishStartedAt = monotonicMs();
  const report = await target.publish({
    id: settings.id,
    messagesPerSecond,
    durationMs: settings.stepMs,
    payloadBytes: settings.payloadBytes,
    firstCounter,
  });
  const expected = report.published * settings.subscribers;
  await drain(pool, expected, settings.drainTimeoutMs);

  const after = sampleGroup(serverPids);
  const redisAfter = target.redisPid === undefined ? undefined : sampleGroup([target.redisPid]);
  const measured = await pool.measureStop();

  const delivered = measured.timed;
  const perMillion = (cpuS: number): number => (delivered > 0 ? round((cpuS / delivered) * 1e6, 3) : 0);
  const workerCpuS = cpuSecondsBetween(
    { ...before, processes: before.processes.filter((sample) => workerPids.has(sample.pid)) },
    { ...after, processes: after.processes.filter((sample) => workerPids.has(sample.pid)) },
  );
  const latency = summarize(measured.latency);
  const deliveredRatio = expected > 0 ? delivered / expected : 0;
  const step: SweepStep = {
    offeredDeliveriesPerSecond: offered,
    messagesPerSecond: round(messagesPerSecond, 3),
    published: report.published,
    expected,
    delivered,
    deliveredRatio: round(deliveredRatio, 5),
    // Over the publishing time, or until the last delivery when the server fell behind.
    deliveriesPerSecond: Math.round(
      delivered / (Math.max(settings.stepMs, measured.lastTimedAtMs - publishStartedAt) / 1000),
    ),
    latency,
    serverCpuSecondsPerMillion: perMillion(cpuSecondsBetween(before, after)),
    webWorkerCpuSecondsPerMillion: perMillion(workerCpuS),
    redisCpuSecondsPerMillion:
      redisBefore === undefined || redisAfter === undefined
        ? null
        : perMillion(cpuSecondsBetween(redisBefore, redisAfter)),
    deliveriesPerWorkerCpuSecond: workerCpuS > 0 ? Math.round(delivered / workerCpuS) : 0,
    serverRssMiB: round(after.rssBytes / 2 ** 20, 1),
    generatorMaxEventLoopUtilization: round(measured.maxEventLoopUtilization, 3),
    generatorCpuCores: round(measured.cpuCores, 3),
    publisherMaxLagMs: report.maxLagMs,
    clientsClosed: measured.closed,
    passed: latency.p99Ms < settings.p99LimitMs && deliveredRatio >= settings.minDeliveredRatio && report.failed === 0,
    keptUp: latency.p99Ms < settings.keepUpP99Ms && deliveredRatio >= settings.minDeliveredRatio && report.failed === 0,
  };
  return { step, nextCounter: report.nextCounter };
}

/** Waits until `expected` timed events arrived, or nothing arrived for a second, or the timeout. */
async function drain(pool: GeneratorPool, expected: number, timeoutMs: number): Promise<void> {
  const deadline = monotonicMs() + timeoutMs;
  let last = -1;
  let lastChangeAt = monotonicMs();
  for (;;) {
    const { timed } = await pool.measureRead();
    if (timed >= expected || monotonicMs() > deadline) return;
    if (timed !== last) {
      last = timed;
      lastChangeAt = monotonicMs();
    } else if (monotonicMs() - lastChangeAt > 1_000) {
      return;
    }
    await sleep(50);
  }
}

/** Picks the best passing and the best sustained steps of a sweep. */
export function summarizeSweep(steps: SweepStep[]): SweepResult {
  return {
    steps,
    best: fastest(steps.filter((step) => step.passed)),
    sustained: fastest(steps.filter((step) => step.keptUp)),
  };
}

/** Formats one step as a log line. */
export function describeStep(step: SweepStep): string {
  let verdict = "";
  if (!step.passed) verdict = step.keptUp ? " (above the p99 limit)" : " (falls behind)";
  return (
    `${step.offeredDeliveriesPerSecond.toLocaleString("en-US")}/s offered: ${step.deliveriesPerSecond.toLocaleString("en-US")}/s delivered, ` +
    `ratio ${step.deliveredRatio}, p50 ${step.latency.p50Ms} ms, p99 ${step.latency.p99Ms} ms, max ${step.latency.maxMs} ms, ` +
    `${step.webWorkerCpuSecondsPerMillion} worker CPU-s/M, generator ELU ${step.generatorMaxEventLoopUtilization}` +
    verdict
  );
}

function fastest(steps: SweepStep[]): SweepStep | undefined {
  return steps.reduce<SweepStep | undefined>(
    (top, step) => (top === undefined || step.deliveriesPerSecond > top.deliveriesPerSecond ? step : top),
    undefined,
  );
}

/** Offered deliveries per second from `from`, each step `factor` times the last, up to `to`. */
export function geometricLevels(from: number, to: number, factor: number): number[] {
  const levels: number[] = [];
  for (let level = from; level <= to * 1.0001; level *= factor) levels.push(Math.round(level / 1000) * 1000);
  return levels;
}
