/**
 * reconnect: 5,000 socket.io-client sockets on 2 web workers behind the sticky primary, then
 * SIGKILL of one web worker. The clients use WebSocket only and the reconnection options of the
 * product's client (500 ms doubling to 5 s, ±50 % jitter). Reported: the time from the kill until
 * 95 % of the dropped clients are connected again, and how many never come back by the deadline.
 * Before that, raw clients measure how many WebSocket upgrades per second the primary accepts.
 * The baseline is plain socket.io with @socket.io/sticky and the cluster adapter wired by hand,
 * which replaces a dead worker after the same delay as the product (RESPAWN_BACKOFF_MS, 1 s).
 */
import { monotonicMs, round, sleep } from "../clock";
import { sourceAddresses } from "../addresses";
import { GeneratorPool } from "../generator/pool";
import type { ReconnectRecord } from "../generator/commands";
import { startProduct, startStock, type ServerUnderTest } from "../servers/launch";
import type { Scenario, ScenarioContext, ScenarioOutcome, SummaryRow, TargetCheck } from "./types";

const TARGET_P95_MS = 4_900;
/** The product client's reconnection options (src/client/backtest-client.ts). */
const RECONNECTION_DELAY_MS = 500;
const RECONNECTION_DELAY_MAX_MS = 5_000;

interface Settings {
  clients: number;
  upgradeClients: number;
  deadlineMs: number;
}

function settingsFor(quick: boolean): Settings {
  return quick
    ? { clients: 1_000, upgradeClients: 1_000, deadlineMs: 15_000 }
    : { clients: 5_000, upgradeClients: 5_000, deadlineMs: 30_000 };
}

interface ReconnectFigures {
  setup: string;
  upgradesPerSecond: number;
  upgradeFailures: number;
  clients: number;
  connectFailures: number;
  killedPid: number;
  dropped: number;
  reconnected: number;
  neverBack: number;
  p50Ms: number | null;
  p95Ms: number | null;
  maxMs: number | null;
  deadlineMs: number;
}

/** Returns the `percent` percentile of reconnect times, counting clients that never came back as infinitely late. */
function percentile(times: number[], total: number, percent: number): number | null {
  const rank = Math.ceil((percent / 100) * total);
  if (rank === 0 || rank > times.length) return null;
  return round([...times].sort((a, b) => a - b)[rank - 1] as number, 1);
}

async function measureSetup(
  name: string,
  server: ServerUnderTest,
  settings: Settings,
  context: ScenarioContext,
): Promise<ReconnectFigures> {
  // Upgrade rate: raw clients, as fast as the primary takes them.
  let pool = await GeneratorPool.start(context.generators);
  const upgrades = await pool.connect({
    host: "127.0.0.1",
    ports: server.ports,
    localAddresses: sourceAddresses(settings.upgradeClients),
    count: settings.upgradeClients,
    concurrency: 1_000,
    namespace: "/backtest",
    connectTimeoutMs: 30_000,
    attempts: 1,
  });
  await pool.stop();
  context.log(
    `reconnect ${name}: ${upgrades.upgradesPerSecond} upgrades/s through the primary (${upgrades.failed} failed)`,
  );
  await sleep(2_000);

  pool = await GeneratorPool.start(context.generators);
  try {
    const connect = await pool.connectSocketIo({
      url: `http://127.0.0.1:${server.ports[0]}/backtest`,
      count: settings.clients,
      concurrency: 200,
      localAddresses: sourceAddresses(settings.clients),
      reconnectionDelayMs: RECONNECTION_DELAY_MS,
      reconnectionDelayMaxMs: RECONNECTION_DELAY_MAX_MS,
      connectTimeoutMs: 20_000,
    });
    await sleep(2_000);

    const victim = server.webWorkerPids()[0];
    if (victim === undefined) throw new Error(`${name}: no web worker to kill`);
    const killedAt = monotonicMs();
    process.kill(victim, "SIGKILL");
    context.log(`reconnect ${name}: killed web worker ${victim} with ${connect.connected} clients connected`);

    const deadline = killedAt + settings.deadlineMs;
    let records: ReconnectRecord[] = [];
    while (monotonicMs() < deadline) {
      await sleep(500);
      records = await pool.reconnectRecords();
      const dropped = records.filter((record) => record.disconnectedAtMs !== null);
      if (
        dropped.length > 0 &&
        dropped.every((record) => record.reconnectedAtMs !== null) &&
        monotonicMs() - killedAt > 3_000
      )
        break;
    }

    const dropped = records.filter((record) => record.disconnectedAtMs !== null);
    const times = dropped.flatMap((record) =>
      record.reconnectedAtMs === null ? [] : [record.reconnectedAtMs - killedAt],
    );
    const figures: ReconnectFigures = {
      setup: name,
      upgradesPerSecond: upgrades.upgradesPerSecond,
      upgradeFailures: upgrades.failed,
      clients: connect.connected,
      connectFailures: connect.failed,
      killedPid: victim,
      dropped: dropped.length,
      reconnected: times.length,
      neverBack: dropped.length - times.length,
      p50Ms: percentile(times, dropped.length, 50),
      p95Ms: percentile(times, dropped.length, 95),
      maxMs: times.length === dropped.length && times.length > 0 ? round(Math.max(...times), 1) : null,
      deadlineMs: settings.deadlineMs,
    };
    context.log(
      `reconnect ${name}: ${figures.dropped} dropped, ${figures.reconnected} back, p50 ${figures.p50Ms} ms, p95 ${figures.p95Ms} ms, ${figures.neverBack} never back`,
    );
    return figures;
  } finally {
    await pool.stop();
  }
}

async function run(context: ScenarioContext): Promise<ScenarioOutcome> {
  const settings = settingsFor(context.quick);
  const setups: { name: string; start: () => Promise<ServerUnderTest> }[] = [
    {
      name: "stock sticky + cluster adapter",
      start: () => startStock({ label: "stock cluster", workers: 2, adapter: "cluster", respawnMs: 1_000 }),
    },
    {
      name: "product, 2 web workers",
      start: () => startProduct({ label: "product", webWorkers: 2, env: { RESPAWN_BACKOFF_MS: "1000" } }),
    },
  ];
  const results: ReconnectFigures[] = [];
  for (const setup of setups) {
    const server = await setup.start();
    try {
      results.push(await measureSetup(setup.name, server, settings, context));
    } finally {
      await server.stop();
    }
  }

  const summary: SummaryRow[] = results.map((result) => ({
    setup: result.setup,
    throughput: `${result.upgradesPerSecond.toLocaleString("en-US")} upgrades/s; ${result.dropped.toLocaleString("en-US")} dropped, p95 back after ${result.p95Ms?.toLocaleString("en-US") ?? "–"} ms, ${result.neverBack} never back`,
    p50Ms: result.p50Ms,
    p99Ms: null,
    maxMs: result.maxMs,
    deliveredRatio: result.dropped > 0 ? round(result.reconnected / result.dropped, 4) : null,
    rssMiB: null,
    cpuSecondsPerMillion: null,
  }));
  const product = results.find((result) => result.setup.startsWith("product"));
  const targets: TargetCheck[] =
    product === undefined
      ? []
      : [
          {
            name: "reconnect: time until 95 % of the dropped clients are back",
            target: `≤ ${TARGET_P95_MS.toLocaleString("en-US")} ms`,
            measured:
              product.p95Ms === null
                ? `more than 5 % never came back within ${product.deadlineMs} ms`
                : `${product.p95Ms} ms`,
            met: product.p95Ms !== null && product.p95Ms <= TARGET_P95_MS,
          },
          {
            name: "reconnect: clients that never come back",
            target: "0",
            measured: `${product.neverBack} of ${product.dropped}`,
            met: product.neverBack === 0,
          },
        ];
  return {
    settings: {
      ...settings,
      transport: "websocket",
      reconnectionDelayMs: RECONNECTION_DELAY_MS,
      reconnectionDelayMaxMs: RECONNECTION_DELAY_MAX_MS,
      respawnMs: 1_000,
    },
    figures: { setups: results },
    summary,
    targets,
    notes: [],
  };
}

export const reconnectScenario: Scenario = {
  name: "reconnect",
  description:
    "5,000 socket.io-client sockets, SIGKILL of one web worker: time until 95 % are back, upgrades/s through the primary",
  run,
};
