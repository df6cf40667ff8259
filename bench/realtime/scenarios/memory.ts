/**
 * memory: idle WebSocket connections joined to `/backtest`, added in batches, with the RSS read
 * after a full garbage collection at each batch. The marginal RSS per connection is the slope of
 * a least-squares line through (connections, RSS) from the first batch on: the empty server is
 * left out, because the first connections also grow pools and compiled code once. The idle CPU is read over one ping interval
 * (25 s, in which every connection replies to one Engine.IO ping) at the largest count.
 * Setups: the baseline (plain socket.io, one process), the product with one web worker, and the
 * product with two web workers, both through the sticky primary, without Redis.
 */
import { round, sleep } from "../clock";
import { sourceAddresses } from "../addresses";
import { GeneratorPool } from "../generator/pool";
import { openFilesLimit } from "../machine";
import { cpuSecondsBetween, sampleGroup } from "../proc";
import { startProduct, startStock, type ServerUnderTest } from "../servers/launch";
import type { Scenario, ScenarioContext, ScenarioOutcome, SummaryRow, TargetCheck } from "./types";

const TARGET_KIB_PER_CONNECTION = 16;
const TARGET_CONNECTIONS_PER_WORKER = 50_000;

interface Settings {
  connectionsPerWorker: number;
  batches: number;
  idleWindowMs: number;
}

/** File descriptors a process keeps for itself besides its connections (Redis, IPC, files, sockets in TIME_WAIT handling). */
const RESERVED_FILES = 1_000;

/**
 * The connections per web worker of this run: the target, or fewer when the open-file limit
 * (which every server and generator process inherits) would not hold them.
 */
function settingsFor(quick: boolean): Settings {
  const holdable = openFilesLimit() - RESERVED_FILES;
  if (quick) return { connectionsPerWorker: Math.min(5_000, holdable), batches: 2, idleWindowMs: 5_000 };
  return { connectionsPerWorker: Math.min(TARGET_CONNECTIONS_PER_WORKER, holdable), batches: 5, idleWindowMs: 26_000 };
}

interface MemoryPoint {
  connections: number;
  /** RSS of the processes that hold the connections (the single process, or the web workers), in bytes. */
  holderRssBytes: number;
  /** RSS of the primary, where there is one, in bytes. */
  primaryRssBytes: number | null;
  heapNote?: string;
}

interface SetupMemory {
  setup: string;
  workers: number;
  connected: number;
  failed: number;
  errors: string[];
  upgradesPerSecond: number;
  points: MemoryPoint[];
  /** Slope of holder RSS over connections, in KiB per connection. */
  kibPerConnection: number;
  /** Slope of the primary's RSS, in KiB per connection; the sticky balancer keeps a session map. */
  primaryKibPerConnection: number | null;
  /** CPU of all server processes at the largest count, in cores, over one ping interval. */
  idleCpuCores: number;
  idleWindowMs: number;
  rssAtMaxMiB: number;
}

/** Least-squares slope of y over x. */
function slope(points: [number, number][]): number {
  const n = points.length;
  if (n < 2) return 0;
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / n;
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / n;
  const covariance = points.reduce((sum, [x, y]) => sum + (x - meanX) * (y - meanY), 0);
  const variance = points.reduce((sum, [x]) => sum + (x - meanX) ** 2, 0);
  return variance === 0 ? 0 : covariance / variance;
}

async function measureSetup(
  setup: string,
  server: ServerUnderTest,
  workers: number,
  settings: Settings,
  context: ScenarioContext,
): Promise<SetupMemory> {
  const total = settings.connectionsPerWorker * workers;
  const perBatch = Math.ceil(total / settings.batches);
  // Each generator process keeps its clients' sockets open under the same open-file limit.
  const pool = await GeneratorPool.start(
    Math.max(context.generators, Math.ceil(total / (openFilesLimit() - RESERVED_FILES))),
  );
  // The root process is a primary unless the connections are its own (the one-process baseline).
  const root = server.pids()[0];
  const primaryPid = root !== undefined && !server.webWorkerPids().includes(root) ? root : undefined;
  const points: MemoryPoint[] = [];
  let connected = 0;
  let failed = 0;
  const errors = new Set<string>();
  let upgradeMs = 0;

  const sample = async (): Promise<void> => {
    await server.commands[0]?.request("gc", null);
    await sleep(1_000);
    const holders = sampleGroup(server.webWorkerPids());
    const primary = primaryPid === undefined ? undefined : sampleGroup([primaryPid]);
    points.push({
      connections: connected,
      holderRssBytes: holders.rssBytes,
      primaryRssBytes: primary?.rssBytes ?? null,
    });
  };

  try {
    await sample();
    for (let batch = 0; batch < settings.batches && connected < total; batch += 1) {
      const count = Math.min(perBatch, total - connected);
      const result = await pool.connect({
        host: "127.0.0.1",
        ports: server.ports,
        localAddresses: sourceAddresses(count),
        count,
        concurrency: 500,
        namespace: "/backtest",
        connectTimeoutMs: 20_000,
        attempts: 3,
      });
      connected += result.connected;
      failed += result.failed;
      upgradeMs += result.durationMs;
      for (const error of result.errors) errors.add(error);
      await sample();
      const last = points[points.length - 1];
      context.log(
        `memory ${setup}: ${connected.toLocaleString("en-US")} connected, holders' RSS ${round((last?.holderRssBytes ?? 0) / 2 ** 20, 1)} MiB`,
      );
    }

    // Idle CPU over one ping interval at the largest count.
    const before = sampleGroup(server.pids());
    await sleep(settings.idleWindowMs);
    const after = sampleGroup(server.pids());
    const status = await pool.status();
    if (status.closed > 0)
      errors.add(`${status.closed} connections closed while idle: ${status.closeReasons.join("; ")}`);

    const loaded = points.filter((point) => point.connections > 0);
    const kibPerConnection = slope(loaded.map((point) => [point.connections, point.holderRssBytes / 1024]));
    const primaryPoints = loaded.filter((point) => point.primaryRssBytes !== null);
    return {
      setup,
      workers,
      connected,
      failed,
      errors: [...errors].slice(0, 5),
      upgradesPerSecond: upgradeMs > 0 ? Math.round((connected / upgradeMs) * 1000) : 0,
      points,
      kibPerConnection: round(kibPerConnection, 2),
      primaryKibPerConnection:
        primaryPoints.length < 2
          ? null
          : round(slope(primaryPoints.map((point) => [point.connections, (point.primaryRssBytes ?? 0) / 1024])), 3),
      idleCpuCores: round(cpuSecondsBetween(before, after) / (settings.idleWindowMs / 1000), 4),
      idleWindowMs: settings.idleWindowMs,
      rssAtMaxMiB: round(after.rssBytes / 2 ** 20, 1),
    };
  } finally {
    await pool.stop();
  }
}

async function run(context: ScenarioContext): Promise<ScenarioOutcome> {
  const settings = settingsFor(context.quick);
  const results: SetupMemory[] = [];

  const setups: { name: string; workers: number; start: () => Promise<ServerUnderTest> }[] = [
    { name: "baseline", workers: 1, start: () => startStock({ label: "baseline", workers: 0, adapter: "none" }) },
    {
      name: "product, 1 web worker",
      workers: 1,
      start: () => startProduct({ label: "product 1 worker", webWorkers: 1 }),
    },
    {
      name: "product, 2 web workers",
      workers: 2,
      start: () => startProduct({ label: "product 2 workers", webWorkers: 2 }),
    },
  ];
  for (const setup of setups) {
    context.log(
      `memory ${setup.name}: up to ${(settings.connectionsPerWorker * setup.workers).toLocaleString("en-US")} connections`,
    );
    const server = await setup.start();
    try {
      results.push(await measureSetup(setup.name, server, setup.workers, settings, context));
    } finally {
      await server.stop();
    }
  }

  const summary: SummaryRow[] = results.map((result) => ({
    setup: result.setup,
    throughput: `${result.connected.toLocaleString("en-US")} idle connections, ${result.kibPerConnection} KiB each, idle CPU ${round(result.idleCpuCores * 100, 2)} % of a core`,
    p50Ms: null,
    p99Ms: null,
    maxMs: null,
    deliveredRatio: null,
    rssMiB: result.rssAtMaxMiB,
    cpuSecondsPerMillion: null,
  }));
  const targets: TargetCheck[] = results
    .filter((result) => result.setup.startsWith("product"))
    .flatMap((result) => [
      {
        name: `memory ${result.setup}: marginal RSS per connection`,
        target: `≤ ${TARGET_KIB_PER_CONNECTION} KiB`,
        measured: `${result.kibPerConnection} KiB in the web workers${result.primaryKibPerConnection === null ? "" : ` + ${result.primaryKibPerConnection} KiB in the primary`}`,
        // A primary's slope below zero is noise of two points; it does not lower the workers' figure.
        met: result.kibPerConnection + Math.max(0, result.primaryKibPerConnection ?? 0) <= TARGET_KIB_PER_CONNECTION,
      },
      {
        name: `memory ${result.setup}: idle connections per web worker`,
        target: `≥ ${TARGET_CONNECTIONS_PER_WORKER.toLocaleString("en-US")}`,
        measured: `${Math.floor(result.connected / result.workers).toLocaleString("en-US")} (${result.failed} failed)`,
        met: context.quick
          ? null
          : result.connected / result.workers >= TARGET_CONNECTIONS_PER_WORKER && result.failed === 0,
        ...(context.quick
          ? { note: "a quick run stops at 5,000 per worker" }
          : settings.connectionsPerWorker < TARGET_CONNECTIONS_PER_WORKER
            ? {
                note: `bounded by the open-file limit of ${openFilesLimit().toLocaleString("en-US")}, which this machine does not let even root raise`,
              }
            : {}),
      },
    ]);

  return {
    settings: {
      ...settings,
      openFilesLimit: openFilesLimit(),
      transport: "websocket",
      namespace: "/backtest",
      mode: "product without Redis (single-host)",
    },
    figures: { setups: results },
    summary,
    targets,
    notes: [],
  };
}

export const memoryScenario: Scenario = {
  name: "memory",
  description: "idle connections on one web worker, then on 2 through the sticky primary: RSS per connection, idle CPU",
  run,
};
