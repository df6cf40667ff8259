import type { Redis } from "ioredis";

import {
  TERMINAL_STATES,
  type BacktestResult,
  type BacktestSnapshot,
  type BacktestState,
  type ErrorBody,
  type SweepEntry,
} from "../hubs/backtest-events";
import { decodeCompletion } from "./backtest-completion";
import { BACKTEST_QUEUE } from "./backtest-queue";
import { toProgress } from "./progress";
import { defineSnapshotCommands } from "./snapshot-scripts";

export interface RedisSnapshotStoreOptions {
  /** Prefix of every key and channel, so that deployments and tests can share one Redis. */
  prefix: string;
  /** How long a snapshot stays readable, in seconds, counted from its last terminal event. */
  resultTtlS: number;
}

/**
 * The source of truth for backtest snapshots when Redis is configured. Web workers create and
 * read snapshots; job processes emit events through {@link RedisSnapshotStore.emit}, which also
 * publishes them on {@link RedisSnapshotStore.channel} for the relay. A backtest's `completed`
 * event is the exception: its job returns it to BullMQ (backtest-completion.ts), and
 * {@link RedisSnapshotStore.read} finds it in the job hash.
 */
export class RedisSnapshotStore {
  readonly channel: string;
  private readonly prefix: string;
  private readonly resultTtlS: number;

  constructor(
    private readonly redis: Redis,
    options: RedisSnapshotStoreOptions,
  ) {
    this.prefix = options.prefix;
    this.resultTtlS = options.resultTtlS;
    this.channel = `${options.prefix}:backtest-events`;
    defineSnapshotCommands(redis);
  }

  key(id: string): string {
    return `${this.prefix}:backtest:${id}`;
  }

  /** Returns the key of a backtest's BullMQ job hash, which contains its request and, once completed, its result. */
  jobKey(id: string): string {
    return `${this.prefix}:${BACKTEST_QUEUE}:${id}`;
  }

  /**
   * Creates a sweep's snapshot in the `queued` state. A backtest needs none, because its waiting
   * BullMQ job represents its snapshot until the first event.
   */
  async create(id: string, total: number): Promise<void> {
    await this.redis.backplaneCreateSnapshot(this.key(id), total, this.resultTtlS);
  }

  async remove(id: string): Promise<void> {
    await this.redis.del(this.key(id));
  }

  async read(id: string): Promise<BacktestSnapshot | undefined> {
    const list = await this.redis.backplaneReadSnapshot(this.key(id), this.jobKey(id));
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < list.length; i += 2) fields[list[i] as string] = list[i + 1] as string;
    return decodeSnapshot(id, fields);
  }

  async requestCancel(id: string): Promise<void> {
    await this.redis.backplaneRequestCancel(this.key(id), this.resultTtlS);
  }

  async isCancelRequested(id: string): Promise<boolean> {
    return (await this.redis.hget(this.key(id), "cancel")) === "1";
  }

  /** Reads the cancel flags of several backtests in one round trip, in the order of `ids`. */
  async readCancelRequests(ids: readonly string[]): Promise<boolean[]> {
    const replies = await this.redis.pipeline(ids.map((id) => ["hget", this.key(id), "cancel"])).exec();
    return (replies ?? []).map(([err, value]) => err === null && value === "1");
  }

  /**
   * Reads whether a backtest ended or has a cancel request, and the seq of its last event, before
   * a job process runs it again.
   */
  async readStart(id: string): Promise<{ ended: boolean; cancelRequested: boolean; seq: number }> {
    const [state, cancel, seq] = await this.redis.hmget(this.key(id), "state", "cancel", "seq");
    return {
      ended: state !== null && state !== undefined && TERMINAL_STATES.has(state as BacktestState),
      cancelRequested: cancel === "1",
      seq: Number(seq ?? 0),
    };
  }

  /** Reads the seq of a backtest's last event, 0 before the first. */
  async readSeq(id: string): Promise<number> {
    return Number((await this.redis.hget(this.key(id), "seq")) ?? 0);
  }

  /**
   * Returns a backtest's request JSON, undecoded, from its BullMQ job hash, or undefined once the
   * job is removed. A completed job is kept as long as its result (RedisBacktestJobs.submit).
   */
  async readRequest(id: string): Promise<string | undefined> {
    return (await this.redis.hget(this.jobKey(id), "data")) ?? undefined;
  }

  /**
   * Applies and publishes one event; resolves with its seq, -1 when the backtest already ended,
   * or -2 for a stale sweep progress event. The command is handed to the connection before this
   * returns (nothing is awaited before it), so it reaches Redis before any command sent later on
   * the same connection.
   */
  async emit(event: EmitInput): Promise<number> {
    let processed = 0;
    let total = 0;
    let payload = "";
    if (event.type === "progress") {
      processed = event.processed;
      total = event.total;
      if (event.best !== undefined) payload = JSON.stringify(event.best);
    } else if (event.type === "completed") {
      total = event.total;
      payload = JSON.stringify(event.result);
    } else if (event.type === "failed") {
      payload = JSON.stringify(event.error);
    }
    return this.redis.backplaneEmitBacktestEvent(
      this.key(event.id),
      this.channel,
      this.resultTtlS,
      event.type,
      event.id,
      processed,
      total,
      payload,
    );
  }
}

export type EmitInput =
  | { type: "progress"; id: string; processed: number; total: number; best?: SweepEntry[] }
  | { type: "completed"; id: string; total: number; result: BacktestResult }
  | { type: "failed"; id: string; error: ErrorBody }
  | { type: "cancelled"; id: string };

const STATES: ReadonlySet<string> = new Set(["queued", "running", "completed", "failed", "cancelled"]);

function decodeSnapshot(id: string, fields: Record<string, string>): BacktestSnapshot | undefined {
  const state = fields["state"];
  if (state === undefined || !STATES.has(state)) return undefined;

  const completion = decodeCompletion(fields["completion"]);
  if (completion instanceof Error) throw completion;
  if (completion !== undefined) {
    const { seq, total, result } = completion;
    return { id, state: "completed", seq, progress: toProgress(total, total), result };
  }

  const snapshot: BacktestSnapshot = {
    id,
    state: state as BacktestState,
    seq: Number(fields["seq"] ?? 0),
    progress: toProgress(Number(fields["processed"] ?? 0), Number(fields["total"] ?? 0)),
  };
  if (fields["result"] !== undefined) snapshot.result = JSON.parse(fields["result"]) as BacktestResult;
  if (fields["error"] !== undefined) snapshot.error = JSON.parse(fields["error"]) as ErrorBody;
  if (fields["best"] !== undefined) snapshot.best = JSON.parse(fields["best"]) as SweepEntry[];
  return snapshot;
}

export function isTerminal(state: BacktestState): boolean {
  return TERMINAL_STATES.has(state);
}
