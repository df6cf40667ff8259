/**
 * The server setups of the fanout and adapters scenarios, each with its publisher and the way it
 * makes a room subscribable.
 */
import { TestRedisServer } from "../../../test/support/redis-server";
import { redisServerPid } from "../proc";
import type { PublishSpec } from "../publish/open-loop";
import { combine, startProduct, startRedisPublisher, startStock, type ServerUnderTest } from "../servers/launch";
import type { SweepTarget } from "./sweep";

export type SetupKind =
  | "baseline"
  | "raw-ws"
  | "stock-cluster"
  | "stock-redis-2x2"
  | "product-redis"
  | "product-single-host"
  | "product-redis-2x2";

/** The description of each setup and its publishing path, for the results and docs/benchmarks.md. */
export const SETUP_DESCRIPTIONS: Record<SetupKind, string> = {
  baseline: "plain socket.io 4.8, one process, no adapter; the publisher runs in the server and emits to the room",
  "raw-ws":
    "reference, not a baseline: the ws package alone, one process, the same frames sent with one ws.send per socket; shows the machine's cost below socket.io",
  "stock-cluster":
    "plain socket.io with @socket.io/sticky and @socket.io/cluster-adapter wired by hand, 2 workers; the publisher runs in the first worker and emits to the room through the adapter",
  "stock-redis-2x2":
    "plain socket.io with @socket.io/redis-adapter, 2 instances × (sticky primary + 2 workers) on one Redis; a separate process with the Redis adapter and no clients emits to the room",
  "product-redis":
    "Backplane with Redis, 1 instance, 2 web workers; a separate process calls RedisSnapshotStore.emit (the Lua script a job process runs per event), each web worker's relay emits to its local sockets",
  "product-single-host":
    "Backplane without Redis, 2 web workers; the first web worker emits with the product's emitEvent to namespace.to(room), the cluster-adapter path of a backtest it owns",
  "product-redis-2x2":
    "Backplane with Redis, 2 instances × 2 web workers; a separate process calls RedisSnapshotStore.emit, each web worker's relay emits to its local sockets",
};

export interface Setup {
  kind: SetupKind;
  target: SweepTarget;
  /** Makes rooms subscribable; returns the backtest id to use for each name. */
  prepareRooms(names: string[]): Promise<string[]>;
  stop(): Promise<void>;
}

function publishThroughServer(server: ServerUnderTest) {
  return (spec: PublishSpec) => {
    const commands = server.commands[0];
    if (commands === undefined) throw new Error(`${server.label} has no command channel`);
    return commands.request("publish", spec, spec.durationMs + 60_000);
  };
}

/** Starts a parked backtest per room on a single-host product: it emits one progress event and then sleeps. */
async function parkBacktests(server: ServerUnderTest, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const response = await fetch(`http://127.0.0.1:${server.ports[0]}/api/backtests`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      // 0.001 bars per second: one bar, one progress event, then a pause of about 17 minutes.
      body: JSON.stringify({ dataset: "goog-daily", strategy: "sma-cross", barsPerSecond: 0.001 }),
    });
    const body = (await response.json()) as { id?: string };
    if (response.status !== 202 || body.id === undefined) {
      throw new Error(`POST /api/backtests on ${server.label} failed with ${response.status}: ${JSON.stringify(body)}`);
    }
    ids.push(body.id);
  }
  return ids;
}

async function withRedis(
  start: (redis: TestRedisServer, redisPid: number | undefined) => Promise<Setup>,
): Promise<Setup> {
  const redis = await TestRedisServer.start();
  try {
    const setup = await start(redis, redisServerPid(redis.port));
    return {
      ...setup,
      stop: async () => {
        await setup.stop();
        await redis.dispose();
      },
    };
  } catch (err) {
    await redis.dispose();
    throw err;
  }
}

export async function startSetup(kind: SetupKind): Promise<Setup> {
  switch (kind) {
    case "baseline": {
      const server = await startStock({ label: "baseline", workers: 0, adapter: "none" });
      return {
        kind,
        target: { server, publish: publishThroughServer(server) },
        prepareRooms: async (names) => names,
        stop: () => server.stop(),
      };
    }
    case "raw-ws": {
      const server = await startStock({ label: "raw ws", workers: 0, adapter: "none", rawWs: true });
      return {
        kind,
        target: { server, publish: publishThroughServer(server) },
        prepareRooms: async (names) => names,
        stop: () => server.stop(),
      };
    }
    case "stock-cluster": {
      const server = await startStock({ label: "stock cluster adapter", workers: 2, adapter: "cluster" });
      return {
        kind,
        target: { server, publish: publishThroughServer(server) },
        prepareRooms: async (names) => names,
        stop: () => server.stop(),
      };
    }
    case "product-single-host": {
      const server = await startProduct({ label: "product single-host", webWorkers: 2 });
      return {
        kind,
        target: { server, publish: publishThroughServer(server) },
        prepareRooms: (names) => parkBacktests(server, names.length),
        stop: () => server.stop(),
      };
    }
    case "stock-redis-2x2":
      return withRedis(async (redis, redisPid) => {
        const instances = await Promise.all(
          ["a", "b"].map((name) =>
            startStock({ label: `stock redis ${name}`, workers: 2, adapter: "redis", redisUrl: redis.url }),
          ),
        );
        const server = combine("stock redis adapter 2×2", instances);
        const publisher = await startRedisPublisher("stock", redis.url);
        return {
          kind,
          target: {
            server,
            publish: (spec) => publisher.commands.request("publish", spec, spec.durationMs + 60_000),
            redisPid,
          },
          prepareRooms: async (names) => names,
          stop: async () => {
            await publisher.stop();
            await server.stop();
          },
        };
      });
    case "product-redis":
    case "product-redis-2x2":
      return withRedis(async (redis, redisPid) => {
        const names = kind === "product-redis" ? ["a"] : ["a", "b"];
        const instances = await Promise.all(
          names.map((name) =>
            startProduct({
              label: `product redis ${name}`,
              instanceId: `bench-${name}`,
              webWorkers: 2,
              redisUrl: redis.url,
            }),
          ),
        );
        const server =
          instances.length === 1 ? (instances[0] as ServerUnderTest) : combine("product redis 2×2", instances);
        const publisher = await startRedisPublisher("product", redis.url);
        return {
          kind,
          target: {
            server,
            publish: (spec) => publisher.commands.request("publish", spec, spec.durationMs + 60_000),
            redisPid,
          },
          prepareRooms: async (ids) => {
            await publisher.commands.request("prepare", { ids });
            return ids;
          },
          stop: async () => {
            await publisher.stop();
            await server.stop();
          },
        };
      });
  }
}
