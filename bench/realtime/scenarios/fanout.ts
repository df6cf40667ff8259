/**
 * fanout: one publisher, rooms of 1,000 and 10,000 subscribers, 200-byte messages, an open-loop
 * rate sweep. The product runs with Redis and 2 web workers and publishes on the product's own
 * path: RedisSnapshotStore.emit, then each web worker's relay. The baseline is plain socket.io in
 * one process with the publisher inside. A raw `ws` server with the same frames runs alongside as
 * a reference for what the machine allows below socket.io.
 */
import { round } from "../clock";
import {
  bestOfferedRate,
  bestRate,
  summaryRows,
  sustainedRate,
  sweepSetups,
  type RoomSpec,
  type SetupFigures,
} from "./rooms";
import { geometricLevels } from "./sweep";
import type { Scenario, ScenarioContext, ScenarioOutcome, TargetCheck } from "./types";

const PAYLOAD_BYTES = 200;
const P99_LIMIT_MS = 50;
/** Target deliveries per second per web worker core. */
const PER_WORKER_CORE_TARGET = 160_000;

function rooms(quick: boolean): RoomSpec[] {
  if (quick) {
    return [
      { name: "room-500", subscribers: 500, levels: geometricLevels(20_000, 160_000, 2) },
      { name: "room-2k", subscribers: 2_000, levels: geometricLevels(20_000, 160_000, 2) },
    ];
  }
  return [
    { name: "room-1k", subscribers: 1_000, levels: geometricLevels(20_000, 420_000, 1.4) },
    { name: "room-10k", subscribers: 10_000, levels: geometricLevels(20_000, 420_000, 1.4) },
  ];
}

async function run(context: ScenarioContext): Promise<ScenarioOutcome> {
  const options = {
    rooms: rooms(context.quick),
    stepMs: context.quick ? 1_500 : 4_000,
    payloadBytes: PAYLOAD_BYTES,
    p99LimitMs: P99_LIMIT_MS,
    ...(context.quick ? {} : { headroomCheckOf: "product-redis" as const }),
  };
  const [baseline, product, rawWs] = (await sweepSetups(["baseline", "product-redis", "raw-ws"], options, context)) as [
    SetupFigures,
    SetupFigures,
    SetupFigures,
  ];

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
      generators: context.generators,
    },
    figures: { baseline, product, rawWs },
    summary: [...summaryRows(baseline), ...summaryRows(product), ...summaryRows(rawWs)],
    targets: targets(baseline, product, options.rooms),
    notes: notes(product),
  };
}

function targets(baseline: SetupFigures, product: SetupFigures, roomSpecs: RoomSpec[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const { name } of roomSpecs) {
    // Compared at the p99 limit by the highest offered rate that passed: a passing step delivers
    // at least 99.9 % of it, so its measured rate differs from the offered one only by that and
    // by timing. When neither passes (rooms too large for 50 ms on this machine), compared by the
    // highest rate each sustained.
    const atLimit = bestRate(product, name) > 0 || bestRate(baseline, name) > 0;
    const productRate = atLimit ? bestOfferedRate(product, name) : sustainedRate(product, name);
    const baselineRate = atLimit ? bestOfferedRate(baseline, name) : sustainedRate(baseline, name);
    checks.push({
      name: `fanout ${name}: product (2 web workers) ≥ single-process baseline`,
      target: "≥ 1.00 × baseline",
      measured:
        `${productRate.toLocaleString("en-US")} vs ${baselineRate.toLocaleString("en-US")} deliveries/s ` +
        `${atLimit ? "offered at p99 < 50 ms" : "sustained (neither stays under 50 ms)"} (${baselineRate > 0 ? round(productRate / baselineRate, 2) : "∞"} ×)`,
      met: productRate >= baselineRate && productRate > 0,
    });
    const room = product.rooms.find((candidate) => candidate.room === name)?.sweep;
    const step = room?.sustained ?? room?.best;
    const perCore = step?.deliveriesPerWorkerCpuSecond ?? 0;
    checks.push({
      name: `fanout ${name}: deliveries per web worker CPU-second`,
      target: `≥ ${PER_WORKER_CORE_TARGET.toLocaleString("en-US")}`,
      measured: `${perCore.toLocaleString("en-US")} (${step?.webWorkerCpuSecondsPerMillion ?? "–"} worker CPU-s per million deliveries)`,
      met: perCore >= PER_WORKER_CORE_TARGET,
    });
  }
  return checks;
}

function notes(product: SetupFigures): string[] {
  const headroom = product.headroom;
  if (headroom === undefined) return [];
  return [
    `Generator headroom: at ${headroom.offeredDeliveriesPerSecond.toLocaleString("en-US")} deliveries/s offered in ${headroom.room}, ` +
      `${headroom.generators} generator processes measured ${headroom.withGenerators.deliveriesPerSecond.toLocaleString("en-US")}/s (p99 ${headroom.withGenerators.latency.p99Ms} ms) ` +
      `and ${headroom.doubledGenerators} measured ${headroom.withDoubledGenerators.deliveriesPerSecond.toLocaleString("en-US")}/s (p99 ${headroom.withDoubledGenerators.latency.p99Ms} ms).`,
  ];
}

export const fanoutScenario: Scenario = {
  name: "fanout",
  description: "one publisher, rooms of 1k and 10k subscribers, 200-byte messages, open-loop rate sweep",
  run,
};
