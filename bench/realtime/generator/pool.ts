/**
 * The coordinator's side of the load generators: it forks them, splits every command over them
 * and merges their replies.
 */
import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";

import { LatencyHistogram } from "../histogram";
import { Requester, waitForEvent, type Endpoint } from "../ipc";
import type {
  ConnectArgs,
  ConnectResult,
  GeneratorCommands,
  MeasureCounts,
  MeasureMode,
  ReceivedEvent,
  ReconnectRecord,
  SocketIoConnectArgs,
  StatusResult,
  SubscribeEachResult,
  SubscribeResult,
} from "./commands";

const GENERATOR_ENTRY = path.join(__dirname, "generator.js");

/** Spacing of global client numbers: generator g's client i is g × this + i. */
export const CLIENTS_PER_GENERATOR = 1_000_000;

/** Merged measurement of every generator. */
export interface PoolMeasurement extends MeasureCounts {
  /** Monotonic time of the last event with a publish time over all generators, 0 when none arrived. */
  lastTimedAtMs: number;
  latency: LatencyHistogram;
  /** Highest event loop utilization of one generator, from 0 to 1. */
  maxEventLoopUtilization: number;
  /** CPU seconds of all generators together per second of wall time. */
  cpuCores: number;
  closed: number;
  received: ReceivedEvent[];
}

export interface MergedConnect {
  connected: number;
  failed: number;
  /** Connection attempts repeated after a failure or a timeout. */
  retried: number;
  errors: string[];
  /** Upgrades accepted per second, from the first 101 to the last, over all generators. */
  upgradesPerSecond: number;
  durationMs: number;
}

/** Splits `total` into `parts` near-equal integers. */
function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

function mergeConnects(results: ConnectResult[]): MergedConnect {
  const connected = results.reduce((sum, result) => sum + result.connected, 0);
  const first = Math.min(...results.map((result) => result.firstUpgradeAtMs));
  const last = Math.max(...results.map((result) => result.lastUpgradeAtMs));
  const durationMs = Number.isFinite(first) ? last - first : 0;
  return {
    connected,
    failed: results.reduce((sum, result) => sum + result.failed, 0),
    retried: results.reduce((sum, result) => sum + result.retried, 0),
    errors: [...new Set(results.flatMap((result) => result.errors))].slice(0, 5),
    upgradesPerSecond: durationMs > 0 ? Math.round((connected / durationMs) * 1000) : 0,
    durationMs: Math.round(durationMs),
  };
}

export class GeneratorPool {
  private constructor(
    private readonly children: ChildProcess[],
    private readonly requesters: Requester<GeneratorCommands>[],
  ) {}

  static async start(count: number): Promise<GeneratorPool> {
    const children = Array.from({ length: count }, () =>
      fork(GENERATOR_ENTRY, [], {
        execArgv: ["--max-old-space-size=8192"],
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      }),
    );
    await Promise.all(
      children.map((child, i) => waitForEvent(child as Endpoint, "ready", 20_000, `load generator ${i}`)),
    );
    const requesters = children.map((child, i) => {
      const requester = new Requester<GeneratorCommands>(child, `load generator ${i}`);
      child.once("exit", (code, signal) => requester.failAll(`exited with code ${code} and signal ${signal}`));
      return requester;
    });
    return new GeneratorPool(children, requesters);
  }

  get size(): number {
    return this.children.length;
  }

  pids(): number[] {
    return this.children.flatMap((child) => (child.pid === undefined ? [] : [child.pid]));
  }

  /** Connects `args.count` raw clients in all, split over the generators. */
  async connect(args: ConnectArgs): Promise<MergedConnect> {
    const counts = split(args.count, this.size);
    const concurrency = Math.max(1, Math.ceil(args.concurrency / this.size));
    const results = await Promise.all(
      this.requesters.map((requester, i) =>
        requester.request(
          "connect",
          { ...args, count: counts[i] ?? 0, concurrency },
          args.connectTimeoutMs * args.attempts * 4 + 600_000,
        ),
      ),
    );
    return mergeConnects(results);
  }

  async connectSocketIo(args: SocketIoConnectArgs): Promise<MergedConnect> {
    const counts = split(args.count, this.size);
    const concurrency = Math.max(1, Math.ceil(args.concurrency / this.size));
    const results = await Promise.all(
      this.requesters.map((requester, i) =>
        requester.request("connectSocketIo", { ...args, count: counts[i] ?? 0, concurrency }),
      ),
    );
    return mergeConnects(results);
  }

  /** Subscribes `clients` clients in all to backtest `id`, split over the generators. */
  async subscribe(id: string, clients: number, timeoutMs = 30_000): Promise<SubscribeResult> {
    const counts = split(clients, this.size);
    const results = await Promise.all(
      this.requesters.map((requester, i) =>
        requester.request("subscribe", { id, clients: counts[i] ?? 0, concurrency: 100, timeoutMs }, timeoutMs * 10),
      ),
    );
    return {
      subscribed: results.reduce((sum, result) => sum + result.subscribed, 0),
      failed: results.reduce((sum, result) => sum + result.failed, 0),
      errors: [...new Set(results.flatMap((result) => result.errors))].slice(0, 5),
      snapshotSeqs: results.flatMap((result) => result.snapshotSeqs),
    };
  }

  /**
   * Subscribes client k (in connection order over all generators) to `ids[k]`. Client numbers in
   * the result and in `measureStop().received` are global: generator × CLIENTS_PER_GENERATOR + index.
   */
  async subscribeEach(ids: string[], timeoutMs = 30_000): Promise<SubscribeEachResult> {
    const counts = split(ids.length, this.size);
    let offset = 0;
    const slices = counts.map((count) => {
      const slice = ids.slice(offset, offset + count);
      offset += count;
      return slice;
    });
    const results = await Promise.all(
      this.requesters.map((requester, i) =>
        requester.request("subscribeEach", { ids: slices[i] ?? [], concurrency: 100, timeoutMs }, timeoutMs * 10),
      ),
    );
    return {
      subscriptions: results.flatMap((result, g) =>
        result.subscriptions.map((subscription) => ({
          ...subscription,
          client: g * CLIENTS_PER_GENERATOR + subscription.client,
        })),
      ),
      failed: results.reduce((sum, result) => sum + result.failed, 0),
      errors: [...new Set(results.flatMap((result) => result.errors))].slice(0, 5),
    };
  }

  async measureStart(mode: MeasureMode): Promise<void> {
    await Promise.all(this.requesters.map((requester) => requester.request("measureStart", { mode })));
  }

  async measureRead(): Promise<MeasureCounts> {
    const counts = await Promise.all(this.requesters.map((requester) => requester.request("measureRead", null)));
    return {
      events: counts.reduce((sum, count) => sum + count.events, 0),
      timed: counts.reduce((sum, count) => sum + count.timed, 0),
    };
  }

  async measureStop(): Promise<PoolMeasurement> {
    const results = await Promise.all(this.requesters.map((requester) => requester.request("measureStop", null)));
    const latency = new LatencyHistogram();
    for (const result of results) latency.merge(result.latency);
    const wallMs = Math.max(...results.map((result) => result.wallMs));
    return {
      events: results.reduce((sum, result) => sum + result.events, 0),
      timed: results.reduce((sum, result) => sum + result.timed, 0),
      lastTimedAtMs: Math.max(...results.map((result) => result.lastTimedAtMs)),
      latency,
      maxEventLoopUtilization: Math.max(...results.map((result) => result.eventLoopUtilization)),
      cpuCores: results.reduce((sum, result) => sum + result.cpuMs, 0) / wallMs,
      closed: results.reduce((sum, result) => sum + result.closed, 0),
      received: results.flatMap((result, g) =>
        result.received.map(([id, seq, at, client]): ReceivedEvent => [
          id,
          seq,
          at,
          g * CLIENTS_PER_GENERATOR + client,
        ]),
      ),
    };
  }

  async status(): Promise<StatusResult> {
    const results = await Promise.all(this.requesters.map((requester) => requester.request("status", null)));
    return {
      open: results.reduce((sum, result) => sum + result.open, 0),
      closed: results.reduce((sum, result) => sum + result.closed, 0),
      closeReasons: [...new Set(results.flatMap((result) => result.closeReasons))].slice(0, 5),
    };
  }

  async reconnectRecords(): Promise<ReconnectRecord[]> {
    const results = await Promise.all(this.requesters.map((requester) => requester.request("reconnectRecords", null)));
    return results.flat();
  }

  /** Closes every client and ends the generator processes. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.requesters.map((requester) => requester.request("closeAll", null, 30_000)));
    await Promise.all(
      this.children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) {
              resolve();
              return;
            }
            const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
            child.once("exit", () => {
              clearTimeout(timer);
              resolve();
            });
            child.disconnect();
          }),
      ),
    );
    for (const requester of this.requesters) requester.dispose();
  }
}
