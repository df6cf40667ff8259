/**
 * progress: latency from a job's progress update to the subscriber's receipt, and the lost and
 * duplicated updates, across instances. Instance A runs the job process (100 backtests at once)
 * and one web worker. Instance B runs 2 web workers, and every subscriber connects to it. Both
 * share one Redis. The backtests are real goog-daily runs paced with `barsPerSecond`, so that each emits
 * about ten progress events a second for the run's duration.
 *
 * The update time is read when the job process calls `RedisSnapshotStore.emit`, and the bench
 * hook records it with the seq the store returns. The receipt time is read when a raw client reads
 * the frame. Both come from the machine's monotonic clock. No field is added to the product's events.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { TestRedisServer } from "../../../test/support/redis-server";
import { round, sleep } from "../clock";
import { sourceAddresses } from "../addresses";
import { GeneratorPool } from "../generator/pool";
import { LatencyHistogram, summarize } from "../histogram";
import { cpuSecondsBetween, sampleGroup } from "../proc";
import { startProduct, startRedisPublisher, type ServerUnderTest } from "../servers/launch";
import type { Scenario, ScenarioContext, ScenarioOutcome } from "./types";

const DATASET = "goog-daily";
const DATASET_BARS = 2_148;
const P99_TARGET_MS = 20;

interface Settings {
  jobs: number;
  subscribersPerJob: number;
  runSeconds: number;
}

function settingsFor(quick: boolean): Settings {
  return quick
    ? { jobs: 20, subscribersPerJob: 2, runSeconds: 5 }
    : { jobs: 100, subscribersPerJob: 2, runSeconds: 20 };
}

/** Reads the job process's emit trace: `id seq monotonicMs` lines. */
function readTrace(directory: string): Map<string, number> {
  const emitted = new Map<string, number>();
  if (!existsSync(directory)) return emitted;
  for (const name of readdirSync(directory)) {
    for (const line of readFileSync(path.join(directory, name), "utf8").split("\n")) {
      const [id, seq, at] = line.split(" ");
      if (id !== undefined && seq !== undefined && at !== undefined) emitted.set(`${id} ${seq}`, Number(at));
    }
  }
  return emitted;
}

async function submitBacktests(server: ServerUnderTest, count: number, barsPerSecond: number): Promise<string[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const response = await fetch(`http://127.0.0.1:${server.ports[0]}/api/backtests`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          dataset: DATASET,
          strategy: "sma-cross",
          params: { fast: 10, slow: 30 },
          barsPerSecond,
        }),
      });
      const body = (await response.json()) as { id?: string };
      if (response.status !== 202 || body.id === undefined)
        throw new Error(`POST /api/backtests failed with ${response.status}: ${JSON.stringify(body)}`);
      return body.id;
    }),
  );
}

/** Final seq of each backtest once every one has ended; throws after `timeoutMs`. */
async function waitForTerminal(
  server: ServerUnderTest,
  ids: string[],
  timeoutMs: number,
): Promise<Map<string, { seq: number; state: string }>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const snapshots = await Promise.all(
      ids.map(async (id) => {
        const response = await fetch(`http://127.0.0.1:${server.ports[0]}/api/backtests/${id}`);
        return [id, (await response.json()) as { seq: number; state: string }] as const;
      }),
    );
    const pending = snapshots.filter(([, snapshot]) => !["completed", "failed", "cancelled"].includes(snapshot.state));
    if (pending.length === 0) return new Map(snapshots);
    if (Date.now() > deadline)
      throw new Error(`${pending.length} of ${ids.length} backtests still running after ${timeoutMs} ms`);
    await sleep(500);
  }
}

async function run(context: ScenarioContext): Promise<ScenarioOutcome> {
  const settings = settingsFor(context.quick);
  // A paced run advances in chunks of a twentieth of a second and reports progress at most every
  // 100 ms. With a multiple of 20 bars per second the chunks are exactly 50 ms, so progress comes
  // every second chunk (about 10 a second) rather than every third.
  const barsPerSecond = Math.max(20, Math.round(DATASET_BARS / settings.runSeconds / 20) * 20);
  const traceDirectory = mkdtempSync(path.join(os.tmpdir(), "backplane-bench-trace-"));
  const redis = await TestRedisServer.start();
  const started: ServerUnderTest[] = [];
  let pool: GeneratorPool | undefined;

  try {
    const jobsInstance = await startProduct({
      label: "instance A (job process)",
      instanceId: "bench-jobs",
      webWorkers: 1,
      redisUrl: redis.url,
      jobProcesses: 1,
      jobConcurrency: settings.jobs,
      traceDirectory,
    });
    started.push(jobsInstance);
    const webInstance = await startProduct({
      label: "instance B (subscribers)",
      instanceId: "bench-web",
      webWorkers: 2,
      redisUrl: redis.url,
    });
    started.push(webInstance);

    const clientCount = settings.jobs * settings.subscribersPerJob;
    pool = await GeneratorPool.start(context.generators);
    const connect = await pool.connect({
      host: "127.0.0.1",
      ports: webInstance.ports,
      localAddresses: sourceAddresses(clientCount),
      count: clientCount,
      concurrency: 200,
      namespace: "/backtest",
      connectTimeoutMs: 10_000,
      attempts: 3,
    });
    if (connect.connected < clientCount)
      throw new Error(
        `only ${connect.connected} of ${clientCount} subscribers connected: ${connect.errors.join("; ")}`,
      );

    const serverPids = [...jobsInstance.pids(), ...webInstance.pids()];
    const groups = {
      jobProcess: jobsInstance
        .pids()
        .slice(1)
        .filter((pid) => !jobsInstance.webWorkerPids().includes(pid)),
      webWorkerWithoutSubscribers: jobsInstance.webWorkerPids(),
      webWorkersWithSubscribers: webInstance.webWorkerPids(),
    };
    const before = sampleGroup(serverPids);
    await pool.measureStart("sequence");
    context.log(`progress: submitting ${settings.jobs} backtests of ${DATASET} at ${barsPerSecond} bars/s`);
    const ids = await submitBacktests(webInstance, settings.jobs, barsPerSecond);
    const assignments = ids.flatMap((id) => Array.from({ length: settings.subscribersPerJob }, () => id));
    const subscribed = await pool.subscribeEach(assignments);
    if (subscribed.failed > 0)
      throw new Error(`${subscribed.failed} subscriptions failed: ${subscribed.errors.join("; ")}`);

    const finals = await waitForTerminal(webInstance, ids, settings.runSeconds * 1000 * 4 + 60_000);
    await sleep(1_000);
    const measured = await pool.measureStop();
    const after = sampleGroup(serverPids);
    // The job process appends its trace every 200 ms.
    await sleep(500);
    const emitted = readTrace(traceDirectory);
    const unfollowed = await measureUnfollowedRelay(
      redis.url,
      [...jobsInstance.webWorkerPids(), ...webInstance.webWorkerPids()],
      context.quick,
    );

    const cpuOf = (pids: number[]): number =>
      cpuSecondsBetween(
        { ...before, processes: before.processes.filter((sample) => pids.includes(sample.pid)) },
        { ...after, processes: after.processes.filter((sample) => pids.includes(sample.pid)) },
      );
    return analyse({
      settings,
      barsPerSecond,
      ids,
      finals,
      subscriptions: subscribed.subscriptions,
      received: measured.received,
      emitted,
      serverCpuS: cpuSecondsBetween(before, after),
      cpuByRole: {
        jobProcessS: round(cpuOf(groups.jobProcess), 2),
        webWorkerWithoutSubscribersS: round(cpuOf(groups.webWorkerWithoutSubscribers), 2),
        webWorkersWithSubscribersS: round(cpuOf(groups.webWorkersWithSubscribers), 2),
      },
      rssBytes: after.rssBytes,
      generatorElu: measured.maxEventLoopUtilization,
      unfollowed,
    });
  } finally {
    await pool?.stop();
    for (const server of started.reverse()) await server.stop();
    await redis.dispose();
    rmSync(traceDirectory, { recursive: true, force: true });
  }
}

/** The relay's cost on a web worker for events of a backtest that none of its sockets follow. */
interface UnfollowedRelay {
  events: number;
  eventsPerSecond: number;
  webWorkers: number;
  /** CPU of one web worker per event, in microseconds. */
  microsecondsPerEventPerWorker: number;
}

/**
 * Publishes progress events of a backtest that no client follows through the product's path
 * (RedisSnapshotStore.emit, then every web worker's relay), and reads the web workers' CPU.
 */
async function measureUnfollowedRelay(
  redisUrl: string,
  webWorkerPids: number[],
  quick: boolean,
): Promise<UnfollowedRelay> {
  const publisher = await startRedisPublisher("product", redisUrl);
  try {
    const id = "bench-unfollowed";
    await publisher.commands.request("prepare", { ids: [id] });
    const spec = { id, messagesPerSecond: 2_000, durationMs: quick ? 2_000 : 5_000, payloadBytes: 200 };
    await publisher.commands.request("publish", { ...spec, durationMs: 1_000, firstCounter: 1 });
    const before = sampleGroup(webWorkerPids);
    const report = await publisher.commands.request("publish", { ...spec, firstCounter: 1_000_000 }, 60_000);
    await sleep(200);
    const after = sampleGroup(webWorkerPids);
    return {
      events: report.published,
      eventsPerSecond: spec.messagesPerSecond,
      webWorkers: webWorkerPids.length,
      microsecondsPerEventPerWorker: round(
        (cpuSecondsBetween(before, after) / report.published / webWorkerPids.length) * 1e6,
        1,
      ),
    };
  } finally {
    await publisher.stop();
  }
}

interface AnalysisInput {
  settings: Settings;
  barsPerSecond: number;
  ids: string[];
  finals: Map<string, { seq: number; state: string }>;
  subscriptions: { client: number; id: string; snapshotSeq: number }[];
  received: [string, number, number, number][];
  emitted: Map<string, number>;
  serverCpuS: number;
  /** CPU seconds over the run of the job process, of instance A's web worker (which relays every event to no one) and of instance B's web workers. */
  cpuByRole: { jobProcessS: number; webWorkerWithoutSubscribersS: number; webWorkersWithSubscribersS: number };
  rssBytes: number;
  generatorElu: number;
  unfollowed: UnfollowedRelay;
}

function analyse(input: AnalysisInput): ScenarioOutcome {
  const { settings, finals, subscriptions, received, emitted } = input;

  // Lost and duplicated, per subscriber: every seq after its snapshot up to the final one, once.
  const seen = new Map<number, Map<number, number>>();
  for (const [, seq, , client] of received) {
    const counts = seen.get(client) ?? new Map<number, number>();
    counts.set(seq, (counts.get(seq) ?? 0) + 1);
    seen.set(client, counts);
  }
  let expected = 0;
  let lost = 0;
  let duplicated = 0;
  for (const subscription of subscriptions) {
    const finalSeq = finals.get(subscription.id)?.seq ?? 0;
    const counts = seen.get(subscription.client) ?? new Map<number, number>();
    for (let seq = subscription.snapshotSeq + 1; seq <= finalSeq; seq += 1) {
      expected += 1;
      if (!counts.has(seq)) lost += 1;
    }
    for (const count of counts.values()) duplicated += count - 1;
  }

  // Latency of every received progress event whose emit the job process traced, overall and per
  // second of the run, which shows whether the tail comes from bursts (start, completions) or stalls.
  const emitTimes = [...emitted.values()].sort((a, b) => a - b);
  const firstEmit = emitTimes[0] ?? 0;
  const latency = new LatencyHistogram();
  const bySecond = new Map<number, LatencyHistogram>();
  for (const [id, seq, receivedAt] of received) {
    const emittedAt = emitted.get(`${id} ${seq}`);
    if (emittedAt === undefined) continue;
    latency.record(receivedAt - emittedAt);
    const second = Math.floor((emittedAt - firstEmit) / 1000);
    const histogram = bySecond.get(second) ?? new LatencyHistogram();
    histogram.record(receivedAt - emittedAt);
    bySecond.set(second, histogram);
  }
  const latencyBySecond = [...bySecond.entries()]
    .sort(([a], [b]) => a - b)
    .map(([second, histogram]) => ({ second, ...summarize(histogram) }));
  const spanS =
    emitTimes.length > 1 ? ((emitTimes[emitTimes.length - 1] as number) - (emitTimes[0] as number)) / 1000 : 0;
  const updatesPerSecond = spanS > 0 ? Math.round(emitTimes.length / spanS) : 0;
  const summary = summarize(latency);
  const states = [...finals.values()].reduce<Record<string, number>>(
    (counts, final) => ({ ...counts, [final.state]: (counts[final.state] ?? 0) + 1 }),
    {},
  );

  return {
    settings: {
      jobs: settings.jobs,
      subscribersPerJob: settings.subscribersPerJob,
      dataset: DATASET,
      barsPerSecond: input.barsPerSecond,
      topology:
        "instance A: 1 web worker + 1 job process (JOB_CONCURRENCY = jobs); instance B: 2 web workers holding every subscriber; one Redis",
    },
    figures: {
      progressUpdates: emitTimes.length,
      updatesPerSecond,
      deliveries: received.length,
      expectedDeliveries: expected,
      lost,
      duplicated,
      latency: summary,
      latencyBySecond,
      finalStates: states,
      serverCpuSecondsPerMillion: received.length > 0 ? round((input.serverCpuS / received.length) * 1e6, 2) : null,
      cpuByRole: input.cpuByRole,
      unfollowedRelay: input.unfollowed,
      serverRssMiB: round(input.rssBytes / 2 ** 20, 1),
      generatorMaxEventLoopUtilization: round(input.generatorElu, 3),
    },
    summary: [
      {
        setup: `product, ${settings.jobs} jobs on instance A, subscribers on instance B`,
        throughput: `${updatesPerSecond.toLocaleString("en-US")} updates/s, ${received.length.toLocaleString("en-US")} deliveries`,
        p50Ms: summary.p50Ms,
        p99Ms: summary.p99Ms,
        maxMs: summary.maxMs,
        deliveredRatio: expected > 0 ? round((expected - lost) / expected, 5) : null,
        rssMiB: round(input.rssBytes / 2 ** 20, 1),
        cpuSecondsPerMillion: received.length > 0 ? round((input.serverCpuS / received.length) * 1e6, 2) : null,
      },
    ],
    targets: [
      {
        name: "progress: p99 from update to receipt",
        target: `≤ ${P99_TARGET_MS} ms`,
        measured: `${summary.p99Ms} ms (p50 ${summary.p50Ms} ms) at ${updatesPerSecond} updates/s`,
        met: summary.p99Ms <= P99_TARGET_MS,
      },
      {
        name: "progress: lost updates",
        target: "0",
        measured: `${lost} of ${expected.toLocaleString("en-US")}`,
        met: lost === 0,
      },
      { name: "progress: duplicated updates", target: "0", measured: String(duplicated), met: duplicated === 0 },
    ],
    notes: [
      ...(settings.jobs === 100 && updatesPerSecond < 950
        ? [
            `The engine emits progress at most every 100 ms per backtest, so ${settings.jobs} paced jobs produced ${updatesPerSecond} updates/s rather than 1,000.`,
          ]
        : []),
      `Relaying an event of a backtest that no socket of the worker follows costs ${input.unfollowed.microsecondsPerEventPerWorker} µs of CPU per web worker (${input.unfollowed.events.toLocaleString("en-US")} events at ${input.unfollowed.eventsPerSecond.toLocaleString("en-US")}/s, ${input.unfollowed.webWorkers} web workers).`,
    ],
  };
}

export const progressScenario: Scenario = {
  name: "progress",
  description: "job progress → subscriber on another instance: 100 paced backtests, about 1,000 updates/s",
  run,
};
