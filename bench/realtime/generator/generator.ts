/**
 * Entry of a load generator process, forked by the coordinator. It opens raw socket.io clients
 * (or socket.io-client sockets for the reconnect scenario), subscribes them, and counts and
 * times the frames they receive. The coordinator drives it with commands over IPC.
 */
import { performance } from "node:perf_hooks";

import { io, type Socket } from "socket.io-client";

import { monotonicMs } from "../clock";
import { LatencyHistogram } from "../histogram";
import { parentEndpoint, sendEvent, serveCommands } from "../ipc";
import type {
  ConnectArgs,
  ConnectResult,
  GeneratorCommands,
  MeasureMode,
  MeasureResult,
  ReceivedEvent,
  ReconnectRecord,
  SocketIoConnectArgs,
  SubscribeArgs,
  SubscribeEachArgs,
  SubscribeEachResult,
  SubscribeResult,
  Subscription,
} from "./commands";
import { RawSocketIoClient } from "./raw-client";

const SENT_AT_MARKER = Buffer.from('"sentAt":');
const DOT = 0x2e;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const MAX_ERRORS = 5;

/** Reads the number after `"sentAt":` in `frame[start, end)`; NaN when the frame has none. */
function readSentAt(frame: Buffer, start: number, end: number): number {
  const at = frame.indexOf(SENT_AT_MARKER, start);
  if (at < 0 || at >= end) return Number.NaN;

  let value = 0;
  let scale = 0;
  for (let i = at + SENT_AT_MARKER.length; i < end; i += 1) {
    const code = frame[i] as number;
    if (code === DOT) {
      scale = 1;
      continue;
    }
    if (code < DIGIT_0 || code > DIGIT_9) break;
    value = value * 10 + (code - DIGIT_0);
    if (scale > 0) scale *= 10;
  }
  return scale > 0 ? value / scale : value;
}

class Measurement {
  mode: MeasureMode = "timed";
  events = 0;
  timed = 0;
  lastTimedAtMs = 0;
  closed = 0;
  readonly latency = new LatencyHistogram();
  received: ReceivedEvent[] = [];
  private startedAt = 0;
  private cpuAtStart = process.cpuUsage();
  private eluAtStart = performance.eventLoopUtilization();

  start(mode: MeasureMode): void {
    this.mode = mode;
    this.events = 0;
    this.timed = 0;
    this.lastTimedAtMs = 0;
    this.closed = 0;
    this.latency.reset();
    this.received = [];
    this.startedAt = monotonicMs();
    this.cpuAtStart = process.cpuUsage();
    this.eluAtStart = performance.eventLoopUtilization();
  }

  stop(): MeasureResult {
    const cpu = process.cpuUsage(this.cpuAtStart);
    const elu = performance.eventLoopUtilization(this.eluAtStart);
    return {
      events: this.events,
      timed: this.timed,
      lastTimedAtMs: this.lastTimedAtMs,
      latency: this.latency.toData(),
      cpuMs: (cpu.user + cpu.system) / 1000,
      wallMs: monotonicMs() - this.startedAt,
      eventLoopUtilization: elu.utilization,
      closed: this.closed,
      received: this.received,
    };
  }
}

const measurement = new Measurement();
const clients: RawSocketIoClient[] = [];
const clientIndex = new Map<RawSocketIoClient, number>();
const closeReasons = new Set<string>();

function sinkFor(index: number) {
  return (frame: Buffer, start: number, end: number, receivedAtMs: number): void => {
    measurement.events += 1;
    if (measurement.mode === "timed") {
      const sentAt = readSentAt(frame, start, end);
      if (Number.isNaN(sentAt)) return;
      measurement.timed += 1;
      measurement.lastTimedAtMs = receivedAtMs;
      measurement.latency.record(receivedAtMs - sentAt);
      return;
    }

    // Sequence mode runs at a few thousand events a second, where parsing is affordable.
    const text = frame.toString("utf8", start, end);
    const [, payload] = JSON.parse(text.slice(text.indexOf("["))) as [string, { id?: unknown; seq?: unknown }];
    if (typeof payload.id === "string" && typeof payload.seq === "number") {
      measurement.received.push([payload.id, payload.seq, receivedAtMs, index]);
    }
  };
}

function onClientClosed(client: RawSocketIoClient): void {
  measurement.closed += 1;
  if (closeReasons.size < MAX_ERRORS && client.closeReason !== undefined) closeReasons.add(client.closeReason);
}

/** Runs `task` for 0..count-1 with at most `concurrency` running at once. */
async function runBounded(count: number, concurrency: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const index = next++;
      await task(index);
    }
  });
  await Promise.all(lanes);
}

async function connect(args: ConnectArgs): Promise<ConnectResult> {
  const errors = new Set<string>();
  let connected = 0;
  let failed = 0;
  let firstUpgradeAtMs = Number.POSITIVE_INFINITY;
  let lastUpgradeAtMs = 0;

  let retried = 0;

  await runBounded(args.count, args.concurrency, async (i) => {
    for (let attempt = 1; attempt <= args.attempts; attempt += 1) {
      const index = clients.length;
      const client = new RawSocketIoClient(
        {
          host: args.host,
          port: args.ports[i % args.ports.length] as number,
          localAddress: args.localAddresses[i % args.localAddresses.length] as string,
          namespace: args.namespace,
          connectTimeoutMs: args.connectTimeoutMs,
        },
        sinkFor(index),
        onClientClosed,
      );
      clients.push(client);
      clientIndex.set(client, index);
      try {
        await client.connected();
        connected += 1;
        firstUpgradeAtMs = Math.min(firstUpgradeAtMs, client.upgradedAtMs);
        lastUpgradeAtMs = Math.max(lastUpgradeAtMs, client.upgradedAtMs);
        return;
      } catch (err) {
        if (errors.size < MAX_ERRORS) errors.add((err as Error).message);
        if (attempt < args.attempts) retried += 1;
      }
    }
    failed += 1;
  });
  return { connected, failed, retried, errors: [...errors], firstUpgradeAtMs, lastUpgradeAtMs };
}

async function subscribe(args: SubscribeArgs): Promise<SubscribeResult> {
  const ready = clients.filter((client) => client.state === "ready").slice(0, args.clients);
  const errors = new Set<string>();
  const snapshotSeqs: number[] = [];
  let subscribed = 0;
  let failed = 0;

  await runBounded(ready.length, args.concurrency, async (i) => {
    const client = ready[i] as RawSocketIoClient;
    try {
      const reply = (await client.emitWithAck("subscribe", { id: args.id }, args.timeoutMs)) as {
        snapshot?: { seq?: number };
        error?: { message?: string };
      };
      if (reply.snapshot === undefined)
        throw new Error(`subscribe rejected: ${reply.error?.message ?? JSON.stringify(reply)}`);
      subscribed += 1;
      snapshotSeqs.push(reply.snapshot.seq ?? 0);
    } catch (err) {
      failed += 1;
      if (errors.size < MAX_ERRORS) errors.add((err as Error).message);
    }
  });
  return { subscribed, failed, errors: [...errors], snapshotSeqs };
}

async function subscribeEach(args: SubscribeEachArgs): Promise<SubscribeEachResult> {
  const ready = clients.filter((client) => client.state === "ready").slice(0, args.ids.length);
  const errors = new Set<string>();
  const subscriptions: Subscription[] = [];
  let failed = 0;

  await runBounded(ready.length, args.concurrency, async (i) => {
    const client = ready[i] as RawSocketIoClient;
    const id = args.ids[i] as string;
    try {
      const reply = (await client.emitWithAck("subscribe", { id }, args.timeoutMs)) as {
        snapshot?: { seq?: number };
        error?: { message?: string };
      };
      if (reply.snapshot === undefined)
        throw new Error(`subscribe rejected: ${reply.error?.message ?? JSON.stringify(reply)}`);
      subscriptions.push({ client: clientIndex.get(client) ?? -1, id, snapshotSeq: reply.snapshot.seq ?? 0 });
    } catch (err) {
      failed += 1;
      if (errors.size < MAX_ERRORS) errors.add((err as Error).message);
    }
  });
  return { subscriptions, failed, errors: [...errors] };
}

// The reconnect scenario uses socket.io-client itself, whose reconnection policy is what is measured.
const socketIoClients: { socket: Socket; record: ReconnectRecord }[] = [];

async function connectSocketIo(args: SocketIoConnectArgs): Promise<ConnectResult> {
  const errors = new Set<string>();
  let connected = 0;
  let failed = 0;
  let firstUpgradeAtMs = Number.POSITIVE_INFINITY;
  let lastUpgradeAtMs = 0;

  await runBounded(args.count, args.concurrency, async (i) => {
    const socket = io(args.url, {
      transports: ["websocket"],
      forceNew: true,
      reconnection: true,
      reconnectionDelay: args.reconnectionDelayMs,
      reconnectionDelayMax: args.reconnectionDelayMaxMs,
      timeout: args.connectTimeoutMs,
      localAddress: args.localAddresses[i % args.localAddresses.length],
    } as Parameters<typeof io>[1]);
    const record: ReconnectRecord = { disconnectedAtMs: null, reconnectedAtMs: null };
    socketIoClients.push({ socket, record });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once("connect", () => resolve());
        socket.once("connect_error", (err) => reject(err));
      });
      connected += 1;
      const at = monotonicMs();
      firstUpgradeAtMs = Math.min(firstUpgradeAtMs, at);
      lastUpgradeAtMs = Math.max(lastUpgradeAtMs, at);
    } catch (err) {
      failed += 1;
      socket.disconnect();
      if (errors.size < MAX_ERRORS) errors.add((err as Error).message);
      return;
    }

    // Only the first drop and the first return after it are recorded.
    socket.on("disconnect", () => {
      record.disconnectedAtMs ??= monotonicMs();
    });
    socket.on("connect", () => {
      if (record.disconnectedAtMs !== null) record.reconnectedAtMs ??= monotonicMs();
    });
  });
  return { connected, failed, retried: 0, errors: [...errors], firstUpgradeAtMs, lastUpgradeAtMs };
}

const endpoint = parentEndpoint();
serveCommands<GeneratorCommands>(endpoint, {
  connect,
  subscribe,
  subscribeEach,
  measureStart: ({ mode }) => {
    measurement.start(mode);
    return null;
  },
  measureRead: () => ({ events: measurement.events, timed: measurement.timed }),
  measureStop: () => measurement.stop(),
  status: () => {
    const open = clients.filter((client) => client.state !== "closed").length;
    return { open, closed: clients.length - open, closeReasons: [...closeReasons] };
  },
  connectSocketIo,
  reconnectRecords: () => socketIoClients.map((client) => client.record),
  closeAll: () => {
    for (const client of clients) client.close();
    for (const client of socketIoClients) client.socket.disconnect();
    return null;
  },
});
process.on("disconnect", () => process.exit(0));
sendEvent(endpoint, "ready", { pid: process.pid });
