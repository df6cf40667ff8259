/**
 * Entry of the publisher process of the Redis setups, forked by the coordinator.
 *
 * BENCH_PUBLISHER_MODE=product publishes through the product's `RedisSnapshotStore.emit`, the call
 * a job process makes for every event: one Lua script applies the event to the snapshot, numbers
 * it and PUBLISHes it on the channel that every web worker's relay subscribes to.
 * BENCH_PUBLISHER_MODE=stock emits to the room from a socket.io server with the stock Redis adapter
 * and no clients, the way a plain socket.io deployment publishes from a backend process.
 */
import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import { Server } from "socket.io";

import { backtestRoom, type SweepEntry } from "../../../src/hubs/backtest-events";
import { RedisSnapshotStore } from "../../../src/queues/redis-snapshot-store";
import { monotonicMs } from "../clock";
import { parentEndpoint, sendEvent, serveCommands } from "../ipc";
import type { PublisherCommands } from "../servers/commands";
import { publishOpenLoop } from "./open-loop";
import { BENCH_TOTAL, benchEvent, paddingFor, stamp } from "./payload";

const mode = process.env["BENCH_PUBLISHER_MODE"];
const url = process.env["BENCH_REDIS_URL"];
const prefix = process.env["BENCH_REDIS_PREFIX"] ?? "bench";
if (url === undefined || (mode !== "product" && mode !== "stock")) {
  throw new Error("set BENCH_REDIS_URL and BENCH_PUBLISHER_MODE (product or stock)");
}

const redis = new Redis(url);
const endpoint = parentEndpoint();

if (mode === "product") {
  // The product's web workers use RESULT_TTL_S, 7 days by default; the bench's snapshots live for an hour.
  const store = new RedisSnapshotStore(redis, { prefix, resultTtlS: 3600 });
  serveCommands<PublisherCommands>(endpoint, {
    prepare: async ({ ids }) => {
      await Promise.all(ids.map((id) => store.create(id, BENCH_TOTAL)));
      return null;
    },
    publish: (spec) => {
      const pad = paddingFor(spec.id, spec.payloadBytes, stamp(monotonicMs()));
      return publishOpenLoop(spec, async (counter, dueAtMs) => {
        // `best` is a sweep's SweepEntry[] in the product; the bench carries its marker there.
        const best = { sentAt: stamp(dueAtMs), pad } as unknown as SweepEntry[];
        const seq = await store.emit({ type: "progress", id: spec.id, processed: counter, total: BENCH_TOTAL, best });
        return seq > 0;
      });
    },
  });
} else {
  const io = new Server({ adapter: createAdapter(redis, redis.duplicate()) });
  const namespace = io.of("/backtest");
  serveCommands<PublisherCommands>(endpoint, {
    prepare: () => null,
    publish: (spec) => {
      const pad = paddingFor(spec.id, spec.payloadBytes, stamp(monotonicMs()));
      const room = namespace.to(backtestRoom(spec.id));
      return publishOpenLoop(spec, (counter, dueAtMs) => {
        room.emit("progress", benchEvent(spec.id, counter, counter, { sentAt: stamp(dueAtMs), pad }));
        return true;
      });
    },
  });
}

redis.once("ready", () => sendEvent(endpoint, "ready", { pid: process.pid }));
process.on("disconnect", () => process.exit(0));
