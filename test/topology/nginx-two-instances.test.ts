import { randomUUID } from "node:crypto";

import { io } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { BacktestEvent, BacktestSnapshot, SubscribeReply } from "../../src/hubs/backtest-events";
import { GOOG_BACKTEST } from "../support/api";
import { BackplaneProcess } from "../support/backplane";
import { expectExactlyOnce } from "../support/exactly-once";
import { eventually, recordEvents, subscribe, type HubSocket, type Transport } from "../support/hub-client";
import { NGINX_SKIP_REASON, TestNginx, nginxAvailable, type Balancing } from "../support/nginx";
import { REDIS_SKIP_REASON, TestRedisServer, redisServerAvailable } from "../support/redis-server";
import { addressPerInstance, instanceOf, requestFrom, socketOptionsFrom } from "./client-addresses";

interface Topology {
  name: string;
  balancing: Balancing;
  connectionHeader: "upgrade-map" | "upgrade";
  transports: Transport[];
}

/**
 * A load balancer without sticky sessions needs WebSocket-only clients; with sticky sessions,
 * long-polling clients work too. The second run hashes the client address, so each simulated
 * client binds its own source address. It also sends `Connection: upgrade` on every request, as
 * CapRover does, so that every polling request carries that header.
 */
const TOPOLOGIES: Topology[] = [
  {
    name: "round-robin balancing and WebSocket clients",
    balancing: "round-robin",
    connectionHeader: "upgrade-map",
    transports: ["websocket"],
  },
  {
    name: "sticky balancing and polling clients",
    balancing: "hash-remote-addr",
    connectionHeader: "upgrade",
    transports: ["polling"],
  },
];

const INSTANCE_IDS = ["nginx-a", "nginx-b"] as const;

/** About 4 s for the 2,149 bars of goog-daily, so that subscribers join while it runs. */
const PACED_BACKTEST = { ...GOOG_BACKTEST, barsPerSecond: 500 };

/** Subscribers per backtest, each on its own connection through nginx. */
const SUBSCRIBERS_PER_INSTANCE = 2;

/** Bound for a backtest to finish on a loaded 2-core machine; it takes about 4 s when idle. */
const COMPLETION_TIMEOUT_MS = 60_000;

const available = redisServerAvailable() && nginxAvailable();
const skipReason = [redisServerAvailable() ? "" : REDIS_SKIP_REASON, nginxAvailable() ? "" : NGINX_SKIP_REASON]
  .filter((reason) => reason !== "")
  .join("; ");

interface Subscriber {
  socket: HubSocket;
  events: BacktestEvent[];
  reply: SubscribeReply;
  disconnects: string[];
}

describe.skipIf(!available).each(TOPOLOGIES)("two instances behind nginx with $name", (topology) => {
  let redis: TestRedisServer;
  const instances: BackplaneProcess[] = [];
  let nginx: TestNginx;
  /** Source address per instance id when nginx hashes the client address; empty otherwise. */
  let addresses = new Map<string, string>();
  const sockets: HubSocket[] = [];

  beforeAll(async () => {
    redis = await TestRedisServer.start();
    const env = { REDIS_URL: redis.url, REDIS_PREFIX: `test${randomUUID().slice(0, 8)}`, JOB_PROCESSES: "1" };
    instances.push(
      ...(await Promise.all(
        INSTANCE_IDS.map((id) => BackplaneProcess.start({ webWorkers: 2, env: { ...env, INSTANCE_ID: id } })),
      )),
    );
    for (const instance of instances) await instance.waitForLog((line) => line.msg === "job process ready", 30_000);
    nginx = await TestNginx.start({
      upstreams: instances.map((instance) => `127.0.0.1:${instance.port}`),
      balancing: topology.balancing,
      connectionHeader: topology.connectionHeader,
    });
    if (topology.balancing === "hash-remote-addr") addresses = await addressPerInstance(nginx.url, INSTANCE_IDS);
  }, 120_000);

  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await nginx?.stop();
    const codes = await Promise.all(instances.map((instance) => instance.stop()));
    await redis?.dispose();
    expect(codes).toEqual(instances.map(() => 0));
  }, 60_000);

  /** Connects a raw socket through nginx, from `localAddress` when given, without reconnection. */
  async function connect(localAddress: string | undefined): Promise<{ socket: HubSocket; disconnects: string[] }> {
    const socket: HubSocket = io(`${nginx.url}/backtest`, {
      transports: topology.transports,
      // A polling client stays on polling, so every request of its session crosses the balancer.
      upgrade: false,
      reconnection: false,
      forceNew: true,
      ...socketOptionsFrom(localAddress),
    });
    sockets.push(socket);
    const disconnects: string[] = [];
    socket.on("disconnect", (reason) => disconnects.push(reason));
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("connect_error", (err) => reject(err));
    });
    return { socket, disconnects };
  }

  async function follow(id: string, localAddress: string | undefined): Promise<Subscriber> {
    const { socket, disconnects } = await connect(localAddress);
    const events = recordEvents(socket);
    const reply = await subscribe(socket, id);
    if ("error" in reply) throw new Error(`subscribe to ${id} failed: ${reply.error.message}`);
    return { socket, events, reply, disconnects };
  }

  /**
   * Submits a backtest that the instance `instanceId` accepts: from that instance's client
   * address when nginx hashes addresses, else by posting until round-robin reaches it.
   */
  async function submitThrough(instanceId: string): Promise<string> {
    const localAddress = addresses.get(instanceId);
    const seen: string[] = [];
    for (let attempt = 0; attempt < 6; attempt += 1) {
      const reply = await requestFrom(localAddress, nginx.url, "POST", "/api/backtests", PACED_BACKTEST);
      expect(reply.status, JSON.stringify(reply.body)).toBe(202);
      const id = (reply.body as { id: string }).id;
      seen.push(String(reply.worker));
      if (instanceOf(reply.worker) === instanceId) return id;
      // Accepted by the other instance: still a valid backtest, but not the one this test needs.
    }
    throw new Error(`no submission reached ${instanceId} in 6 tries; accepted by ${seen.join(", ")}`);
  }

  /**
   * Opens subscribers through nginx until each instance serves SUBSCRIBERS_PER_INSTANCE of them.
   * With round-robin, consecutive connections alternate; with hashing, the address decides.
   */
  async function followOnBothInstances(id: string): Promise<Subscriber[]> {
    const subscribers: Subscriber[] = [];
    const onInstance = (instanceId: string) =>
      subscribers.filter(({ reply }) => instanceOf(reply.worker) === instanceId).length;

    for (let attempt = 0; attempt < 4 * SUBSCRIBERS_PER_INSTANCE * INSTANCE_IDS.length; attempt += 1) {
      const missing = INSTANCE_IDS.find((instanceId) => onInstance(instanceId) < SUBSCRIBERS_PER_INSTANCE);
      if (missing === undefined) return subscribers;
      subscribers.push(await follow(id, addresses.get(missing)));
    }
    const labels = subscribers.map(({ reply }) => reply.worker).join(", ");
    throw new Error(`subscribers of ${id} did not reach both instances: ${labels}`);
  }

  /**
   * Checks in nginx's access log that every request from a client address reached the instance
   * that the address was chosen for: clients really landed on both instances, and each polling
   * request reached the instance that has its session.
   */
  function expectEachAddressOnItsInstance(): void {
    const instanceOfUpstream = new Map(instances.map((instance, i) => [`127.0.0.1:${instance.port}`, INSTANCE_IDS[i]]));
    for (const [instanceId, address] of addresses) {
      const entries = nginx.accessLog().filter((entry) => entry.remoteAddr === address);
      // The probe, the submission and the polling requests of two subscribers.
      expect(entries.length).toBeGreaterThan(5);
      const reached = new Set(entries.map((entry) => instanceOfUpstream.get(entry.upstreamAddr)));
      expect([...reached]).toEqual([instanceId]);
      // engine.io replies 400 "Session ID unknown" to a polling request that reaches another process.
      expect(entries.filter((entry) => entry.status === 400)).toEqual([]);
    }
  }

  it("delivers each backtest once to subscribers on both instances", { timeout: 180_000 }, async () => {
    const ids = [await submitThrough("nginx-a"), await submitThrough("nginx-b")];
    const followers = new Map<string, Subscriber[]>();
    for (const id of ids) followers.set(id, await followOnBothInstances(id));

    const all = [...followers.values()].flat();
    await eventually(
      () => (all.every(({ events }) => events.some((event) => event.type === "completed")) ? true : undefined),
      COMPLETION_TIMEOUT_MS,
      "completed on every subscriber",
    );
    // Give late duplicates, if any, a moment to arrive before counting.
    await new Promise((resolve) => setTimeout(resolve, 500));

    for (const [id, subscribers] of followers) {
      const final = await requestFrom(undefined, nginx.url, "GET", `/api/backtests/${id}`);
      const snapshot = final.body as BacktestSnapshot;
      expect(snapshot.state).toBe("completed");
      expect(snapshot.result?.stats.trades).toBe(66);

      for (const { events, reply, disconnects } of subscribers) {
        expectExactlyOnce(events, reply.snapshot.seq);
        expect(events.filter((event) => event.type === "progress").length).toBeGreaterThan(0);
        expect(events.at(-1)?.seq).toBe(snapshot.seq);
        expect(disconnects, `subscriber on ${reply.worker} disconnected`).toEqual([]);
      }
      // Every subscriber of a backtest saw the same result, whichever instance served it.
      const trades = subscribers.map(({ events }) => {
        const completed = events.at(-1);
        return completed?.type === "completed" ? completed.result.stats.trades : undefined;
      });
      expect(trades).toEqual(subscribers.map(() => 66));
    }

    // The ack's label, <instance id>/<pid>, names a web worker that the instance itself started.
    for (const { reply } of all) {
      const index = INSTANCE_IDS.findIndex((instanceId) => instanceId === instanceOf(reply.worker));
      const pid = Number(reply.worker.split("/")[1]);
      expect(instances[index]?.webWorkerPids()).toContain(pid);
    }

    for (const { socket } of all) expect(socket.io.engine.transport.name).toBe(topology.transports[0]);
    if (topology.balancing === "hash-remote-addr") expectEachAddressOnItsInstance();
  });

  it.runIf(topology.balancing === "round-robin")("spreads requests of one client over both instances", async () => {
    // Round-robin is the balancer without stickiness that WebSocket-only clients are for: one
    // client's plain requests reach both instances.
    const answeredBy = new Set<string>();
    for (let i = 0; i < 4; i += 1) {
      const reply = await requestFrom(undefined, nginx.url, "GET", "/healthz");
      expect(reply.status).toBe(200);
      answeredBy.add(instanceOf(reply.worker));
    }
    expect([...answeredBy].sort()).toEqual([...INSTANCE_IDS]);
  });
});

if (!available) console.warn(`nginx topology tests skipped: ${skipReason}`);
