/**
 * adapters: the fanout load on the product's two ways of joining web workers, each against the
 * same stock adapter wired by hand in the same run:
 * - single host: the product without Redis (cluster adapter, 2 web workers) against plain
 *   socket.io with @socket.io/sticky and @socket.io/cluster-adapter, 2 workers;
 * - Redis: the product with Redis, 2 instances × 2 web workers (relay) against plain socket.io
 *   with @socket.io/redis-adapter, 2 instances × 2 workers, on one Redis.
 * Loss is 1 − product ÷ baseline of the best deliveries per second at p99 < 50 ms, or of the best
 * sustained rates when neither passes. The added p99 is the product's p99 minus the baseline's. * One step's p99 moves by tens of milliseconds with the other work on this machine. So after each
 * sweep the two setups run alternating steps at one rate in the room of 1,000 subscribers, and
 * the added p99 is the median of those paired differences. Where the pairs did not run, it is the
 * median over the sweep's offered rates that both passed.
 */
import { round } from "../clock";
import { median } from "../median";
import {
  bestRate,
  summaryRows,
  sustainedRate,
  sweepSetups,
  type PairedP99Figures,
  type RoomSpec,
  type SetupFigures,
} from "./rooms";
import { geometricLevels } from "./sweep";
import type { Scenario, ScenarioContext, ScenarioOutcome, TargetCheck } from "./types";

const PAYLOAD_BYTES = 200;
const P99_LIMIT_MS = 50;
const MAX_LOSS = 0.1;
const MAX_ADDED_P99_MS = 1;
/** Alternating rounds of the paired p99 comparison, each one step of every setup. */
const PAIRED_ROUNDS = 10;

function rooms(quick: boolean): RoomSpec[] {
  if (quick) return [{ name: "room-2k", subscribers: 2_000, levels: geometricLevels(20_000, 160_000, 2) }];
  return [
    { name: "room-1k", subscribers: 1_000, levels: geometricLevels(20_000, 420_000, 1.4) },
    { name: "room-10k", subscribers: 10_000, levels: geometricLevels(20_000, 420_000, 1.4) },
  ];
}

interface Comparison {
  adapter: string;
  room: string;
  /** Whether the rates are the best at p99 < 50 ms, or, when neither setup passed, the best sustained. */
  comparedBy: "p99 limit" | "sustained";
  baselineDeliveriesPerSecond: number;
  productDeliveriesPerSecond: number;
  /** 1 − product ÷ baseline; negative when the product delivers more. */
  loss: number;
  /** Product p99 − baseline p99 at every offered rate that both passed, rising. */
  addedP99ByOffered: { offered: number; baselineP99Ms: number; productP99Ms: number; addedP99Ms: number }[];
  /** Median of `addedP99ByOffered`, null when no rate passed on both. */
  addedP99Ms: number | null;
  /** The paired comparison in this room, when it ran here. */
  paired?: PairedP99Figures;
}

function compare(adapter: string, baseline: SetupFigures, product: SetupFigures, room: string): Comparison {
  const atLimit = bestRate(baseline, room) > 0 || bestRate(product, room) > 0;
  const baselineRate = atLimit ? bestRate(baseline, room) : sustainedRate(baseline, room);
  const productRate = atLimit ? bestRate(product, room) : sustainedRate(product, room);
  const baselineSteps = baseline.rooms.find((candidate) => candidate.room === room)?.sweep.steps ?? [];
  const productSteps = product.rooms.find((candidate) => candidate.room === room)?.sweep.steps ?? [];

  const addedP99ByOffered = productSteps.flatMap((step) => {
    const other = baselineSteps.find(
      (candidate) => candidate.offeredDeliveriesPerSecond === step.offeredDeliveriesPerSecond,
    );
    if (!step.passed || other?.passed !== true) return [];
    return [
      {
        offered: step.offeredDeliveriesPerSecond,
        baselineP99Ms: other.latency.p99Ms,
        productP99Ms: step.latency.p99Ms,
        addedP99Ms: round(step.latency.p99Ms - other.latency.p99Ms, 3),
      },
    ];
  });
  const added = addedP99ByOffered.map((entry) => entry.addedP99Ms);
  const addedP99Ms = added.length === 0 ? null : round(median(added), 3);

  return {
    adapter,
    room,
    comparedBy: atLimit ? "p99 limit" : "sustained",
    baselineDeliveriesPerSecond: baselineRate,
    productDeliveriesPerSecond: productRate,
    loss: baselineRate > 0 ? round(1 - productRate / baselineRate, 3) : 0,
    addedP99ByOffered,
    addedP99Ms,
    ...(product.pairedP99?.room === room ? { paired: product.pairedP99 } : {}),
  };
}

function describeAddedP99(comparison: Comparison): string {
  const paired = comparison.paired;
  if (paired !== undefined) {
    return `${paired.medianDifferenceMs} ms, the median over ${paired.rounds.length} alternating rounds at ${paired.offered.toLocaleString("en-US")} deliveries/s offered (${paired.differencesMs.join(", ")} ms)`;
  }
  if (comparison.addedP99Ms === null) return "no offered rate passed on both";
  const count = comparison.addedP99ByOffered.length;
  return `${comparison.addedP99Ms} ms, the median over ${count} offered rate${count === 1 ? "" : "s"} that both passed (${comparison.addedP99ByOffered.map((entry) => entry.addedP99Ms).join(", ")} ms)`;
}

function targetsOf(comparison: Comparison): TargetCheck[] {
  const label = `adapters ${comparison.adapter}, ${comparison.room}`;
  const basis = comparison.comparedBy === "p99 limit" ? "at p99 < 50 ms" : "sustained, as neither stays under 50 ms";
  return [
    {
      name: `${label}: throughput loss against the stock adapter`,
      target: `≤ ${MAX_LOSS * 100} %`,
      measured: `${round(comparison.loss * 100, 1)} % (${comparison.productDeliveriesPerSecond.toLocaleString("en-US")} vs ${comparison.baselineDeliveriesPerSecond.toLocaleString("en-US")} deliveries/s ${basis})`,
      met: comparison.baselineDeliveriesPerSecond > 0 && comparison.loss <= MAX_LOSS,
    },
    {
      name: `${label}: added p99`,
      target: `≤ ${MAX_ADDED_P99_MS} ms`,
      measured: describeAddedP99(comparison),
      met: addedP99Met(comparison),
    },
  ];
}

function addedP99Met(comparison: Comparison): boolean | null {
  if (comparison.paired !== undefined) return comparison.paired.medianDifferenceMs <= MAX_ADDED_P99_MS;
  return comparison.addedP99Ms === null ? null : comparison.addedP99Ms <= MAX_ADDED_P99_MS;
}

async function run(context: ScenarioContext): Promise<ScenarioOutcome> {
  const options = {
    rooms: rooms(context.quick),
    stepMs: context.quick ? 1_500 : 3_000,
    payloadBytes: PAYLOAD_BYTES,
    p99LimitMs: P99_LIMIT_MS,
    pairedP99: context.quick ? { room: "room-2k", rounds: 2 } : { room: "room-1k", rounds: PAIRED_ROUNDS },
  };
  // Each product setup is swept side by side with its stock counterpart.
  const [stockCluster, productSingleHost] = (await sweepSetups(
    ["stock-cluster", "product-single-host"],
    options,
    context,
  )) as [SetupFigures, SetupFigures];
  const [stockRedis, productRedis] = (await sweepSetups(
    ["stock-redis-2x2", "product-redis-2x2"],
    options,
    context,
  )) as [SetupFigures, SetupFigures];

  const comparisons = options.rooms.flatMap((room) => [
    compare("cluster", stockCluster, productSingleHost, room.name),
    compare("redis", stockRedis, productRedis, room.name),
  ]);
  return {
    settings: {
      rooms: options.rooms.map((room) => ({
        name: room.name,
        subscribers: room.subscribers,
        offeredDeliveriesPerSecond: room.levels,
      })),
      stepMs: options.stepMs,
      payloadBytes: PAYLOAD_BYTES,
      passWhen: `p99 < ${P99_LIMIT_MS} ms and delivered ÷ expected ≥ 0.999`,
      pairedP99: options.pairedP99,
      generators: context.generators,
    },
    figures: { stockCluster, productSingleHost, stockRedis, productRedis, comparisons },
    summary: [
      ...summaryRows(stockCluster),
      ...summaryRows(productSingleHost),
      ...summaryRows(stockRedis),
      ...summaryRows(productRedis),
    ],
    targets: comparisons.flatMap(targetsOf),
    notes: [],
  };
}

export const adaptersScenario: Scenario = {
  name: "adapters",
  description:
    "the fanout load on the cluster adapter (2 workers) and the Redis adapter (2 instances × 2 workers) against stock wiring",
  run,
};
