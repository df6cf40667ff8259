/**
 * Bench-only instrumentation of a product instance, preloaded with `node --require` into its
 * primary; the primary's children inherit the flag. Nothing of the product is changed: the hook
 * observes it from outside.
 *
 * - Primary: serves the coordinator's `publish` and `gc` commands over the IPC channel the
 *   coordinator opened, forwarding `publish` to the first web worker and `gc` to all of them.
 * - Web worker: captures the `/backtest` namespace when the product creates it. On command it
 *   publishes with the product's `emitEvent` to the room target `namespace.to(room)`. That is the
 *   path `LocalBacktestJobs` takes for a backtest it owns in single-host mode, through the
 *   cluster adapter to every web worker.
 * - Job process: with BENCH_TRACE_DIR set, records when each progress event entered the product's
 *   `RedisSnapshotStore.emit` and the seq the store gave it, for the progress scenario.
 */
import cluster, { type Worker } from "node:cluster";
import { appendFileSync } from "node:fs";
import path from "node:path";

import type { Server as SocketIoServer } from "socket.io";

import { BACKTEST_NAMESPACE, backtestRoom } from "../../../src/hubs/backtest-events";
import { RedisSnapshotStore } from "../../../src/queues/redis-snapshot-store";
import { emitEvent, type BacktestNamespace } from "../../../src/relay/event-payload";
import { monotonicMs } from "../clock";
import { parentEndpoint, Requester, serveCommands } from "../ipc";
import { publishOpenLoop } from "../publish/open-loop";
import { BENCH_TOTAL, paddingFor, stamp } from "../publish/payload";
import { collectGarbage, type ServerCommands } from "./commands";

function isJobProcess(): boolean {
  const entry = process.argv[1] ?? "";
  return path.basename(path.dirname(entry)) === "workers" && path.basename(entry) === "main.js";
}

function hookPrimary(): void {
  if (process.send === undefined) return;

  const requesters = new Map<Worker, Requester<ServerCommands>>();
  const requesterFor = (worker: Worker): Requester<ServerCommands> => {
    let requester = requesters.get(worker);
    if (requester === undefined) {
      requester = new Requester<ServerCommands>(worker, `web worker ${worker.id}`);
      requesters.set(worker, requester);
      worker.once("exit", () => requesters.get(worker)?.dispose());
    }
    return requester;
  };
  const webWorkers = (): Worker[] =>
    Object.values(cluster.workers ?? {})
      .filter((worker): worker is Worker => worker !== undefined)
      .sort((a, b) => a.id - b.id);

  serveCommands<ServerCommands>(parentEndpoint(), {
    publish: (spec) => {
      const [first] = webWorkers();
      if (first === undefined) throw new Error("no web worker is running");
      return requesterFor(first).request("publish", spec, spec.durationMs + 60_000);
    },
    gc: async () => {
      collectGarbage();
      await Promise.all(webWorkers().map((worker) => requesterFor(worker).request("gc", null)));
      return null;
    },
  });
}

function hookWebWorker(): void {
  // Required here rather than imported, so that the primary and the job processes never load socket.io.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Server } = require("socket.io") as typeof import("socket.io");
  let namespace: BacktestNamespace | undefined;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called below with the server as `this`
  const of = Server.prototype.of;
  Server.prototype.of = function (this: SocketIoServer, ...args: Parameters<typeof of>) {
    const created = of.apply(this, args);
    if (args[0] === BACKTEST_NAMESPACE) namespace = created;
    return created;
  } as typeof of;

  serveCommands<ServerCommands>(parentEndpoint(), {
    publish: (spec) => {
      const target = namespace;
      if (target === undefined) throw new Error("the product has not created the /backtest namespace yet");
      const pad = paddingFor(spec.id, spec.payloadBytes, stamp(monotonicMs()));
      return publishOpenLoop(spec, (counter, dueAtMs) => {
        // `best` is a sweep's SweepEntry[] in the product; the bench carries its marker there.
        const best = { sentAt: stamp(dueAtMs), pad } as unknown as [];
        emitEvent(target.to(backtestRoom(spec.id)), {
          type: "progress",
          id: spec.id,
          seq: counter,
          processed: counter,
          total: BENCH_TOTAL,
          percent: 0,
          best,
        });
        return true;
      });
    },
    gc: () => {
      collectGarbage();
      return null;
    },
  });
}

function hookJobProcess(traceDirectory: string): void {
  const file = path.join(traceDirectory, `emits-${process.pid}.txt`);
  let lines: string[] = [];
  const flush = (): void => {
    if (lines.length === 0) return;
    appendFileSync(file, lines.join(""));
    lines = [];
  };
  setInterval(flush, 200).unref();
  process.on("exit", flush);

  // eslint-disable-next-line @typescript-eslint/unbound-method -- called below with the store as `this`
  const emit = RedisSnapshotStore.prototype.emit;
  RedisSnapshotStore.prototype.emit = function (this: InstanceType<typeof RedisSnapshotStore>, event) {
    const calledAtMs = monotonicMs();
    const seq = emit.call(this, event);
    if (event.type === "progress") {
      seq.then(
        (value) => {
          if (value > 0) lines.push(`${event.id} ${value} ${calledAtMs}\n`);
        },
        () => undefined,
      );
    }
    return seq;
  };
}

if (isJobProcess()) {
  const traceDirectory = process.env["BENCH_TRACE_DIR"];
  if (traceDirectory !== undefined) hookJobProcess(traceDirectory);
} else if (cluster.isWorker) {
  hookWebWorker();
} else {
  hookPrimary();
}
