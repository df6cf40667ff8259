/**
 * Entry of the baseline servers: plain socket.io with the same `/backtest` events as the product
 * and nothing else, configured by environment variables.
 *
 * - STOCK_WORKERS=0: one process, no adapter, listening itself: the single-process baseline.
 * - STOCK_WORKERS=n: a cluster primary with @socket.io/sticky (least-connection) and n workers,
 *   joined by STOCK_ADAPTER: `cluster` (@socket.io/cluster-adapter) or `redis`
 *   (@socket.io/redis-adapter on STOCK_REDIS_URL), wired as those packages' READMEs show.
 *   A dead worker is replaced after STOCK_RESPAWN_MS, like the product's supervisor does.
 *
 * STOCK_PORT is the port to listen on, on 127.0.0.1. The process serves the coordinator's
 * `publish` and `gc` commands; in a cluster, `publish` runs in the first worker.
 */
import cluster, { type Worker } from "node:cluster";
import http from "node:http";

import {
  createAdapter as createClusterAdapter,
  setupPrimary as setupClusterAdapterPrimary,
} from "@socket.io/cluster-adapter";
import { createAdapter as createRedisAdapter } from "@socket.io/redis-adapter";
import { setupMaster as setupStickyPrimary, setupWorker as setupStickyWorker } from "@socket.io/sticky";
import { Redis } from "ioredis";
import { Server, type ServerOptions } from "socket.io";

import { backtestRoom } from "../../../src/hubs/backtest-events";
import { monotonicMs } from "../clock";
import { parentEndpoint, Requester, sendEvent, serveCommands } from "../ipc";
import { publishOpenLoop, type PublishSpec } from "../publish/open-loop";
import { benchEvent, paddingFor, stamp } from "../publish/payload";
import { collectGarbage, type ServerCommands } from "./commands";
import { registerStubHub } from "./hub-stub";

const workers = Number(process.env["STOCK_WORKERS"] ?? "0");
const adapterName = process.env["STOCK_ADAPTER"] ?? "none";
const port = Number(process.env["STOCK_PORT"] ?? "0");
const respawnMs = Number(process.env["STOCK_RESPAWN_MS"] ?? "1000");

/** Starts socket.io on an HTTP server and returns the `/backtest` namespace. */
function startSocketIo(httpServer: http.Server, adapter: ServerOptions["adapter"] | undefined) {
  const io = new Server(httpServer, { serveClient: false, ...(adapter === undefined ? {} : { adapter }) });
  const namespace = io.of("/backtest");
  registerStubHub(namespace, `stock/${process.pid}`);
  return { io, namespace };
}

/** Publishes the bench's progress events to a room from this process. */
function publishFrom(namespace: ReturnType<typeof startSocketIo>["namespace"], spec: PublishSpec) {
  const pad = paddingFor(spec.id, spec.payloadBytes, stamp(monotonicMs()));
  const room = namespace.to(backtestRoom(spec.id));
  return publishOpenLoop(spec, (counter, dueAtMs) => {
    room.emit("progress", benchEvent(spec.id, counter, counter, { sentAt: stamp(dueAtMs), pad }));
    return true;
  });
}

function runSingleProcess(): void {
  const httpServer = http.createServer();
  const { namespace } = startSocketIo(httpServer, undefined);
  serveCommands<ServerCommands>(parentEndpoint(), {
    publish: (spec) => publishFrom(namespace, spec),
    gc: () => {
      collectGarbage();
      return null;
    },
  });
  httpServer.listen(port, "127.0.0.1", () => sendEvent(parentEndpoint(), "ready", { pid: process.pid }));
}

function runPrimary(): void {
  cluster.setupPrimary({ serialization: "advanced" });
  if (adapterName === "cluster") setupClusterAdapterPrimary();

  const requesters = new Map<Worker, Requester<ServerCommands>>();
  let ready = 0;
  const forkWorker = (): void => {
    const worker = cluster.fork();
    requesters.set(worker, new Requester<ServerCommands>(worker, `stock worker ${worker.id}`));
    worker.on("message", (message: unknown) => {
      if ((message as { name?: string }).name !== "worker-ready") return;
      ready += 1;
      if (ready === workers) sendEvent(parentEndpoint(), "ready", { pid: process.pid });
    });
    worker.on("exit", () => {
      requesters.get(worker)?.dispose();
      requesters.delete(worker);
      setTimeout(forkWorker, respawnMs);
    });
  };

  const httpServer = http.createServer();
  setupStickyPrimary(httpServer, { loadBalancingMethod: "least-connection" });
  for (let i = 0; i < workers; i += 1) forkWorker();

  const firstWorker = (): Requester<ServerCommands> => {
    const [first] = [...requesters.entries()].sort(([a], [b]) => a.id - b.id);
    if (first === undefined)
      throw new Error(
        "no stock worker is running: the last one died and is not respawned yet; see the server's output",
      );
    return first[1];
  };
  serveCommands<ServerCommands>(parentEndpoint(), {
    publish: (spec) => firstWorker().request("publish", spec, spec.durationMs + 60_000),
    gc: async () => {
      collectGarbage();
      await Promise.all([...requesters.values()].map((requester) => requester.request("gc", null)));
      return null;
    },
  });
  httpServer.listen(port, "127.0.0.1");
  process.on("SIGTERM", () => {
    for (const worker of requesters.keys()) worker.process.kill("SIGKILL");
    process.exit(0);
  });
}

function runWorker(): void {
  let adapter: ServerOptions["adapter"];
  if (adapterName === "cluster") {
    adapter = createClusterAdapter();
  } else {
    const url = process.env["STOCK_REDIS_URL"];
    if (url === undefined) throw new Error("STOCK_REDIS_URL is required with STOCK_ADAPTER=redis");
    adapter = createRedisAdapter(new Redis(url), new Redis(url));
  }

  // The sticky balancer hands connections over; this server never listens itself.
  const httpServer = http.createServer();
  const { io, namespace } = startSocketIo(httpServer, adapter);
  setupStickyWorker(io);
  serveCommands<ServerCommands>(parentEndpoint(), {
    publish: (spec) => publishFrom(namespace, spec),
    gc: () => {
      collectGarbage();
      return null;
    },
  });
  sendEvent(parentEndpoint(), "worker-ready", { pid: process.pid });
}

if (workers === 0) runSingleProcess();
else if (cluster.isPrimary) runPrimary();
else runWorker();
