import type { Redis, Result } from "ioredis";

import {
  TERMINAL_STATES,
  type BacktestEvent,
  type BacktestResult,
  type BacktestSnapshot,
  type BacktestState,
  type ErrorBody,
  type SweepEntry,
} from "../hubs/backtest-events";
import type { BacktestRequest } from "./backtest-request";
import { toProgress } from "./progress";

declare module "ioredis" {
  interface RedisCommander<Context> {
    backplaneEmitBacktestEvent(
      key: string,
      type: BacktestEvent["type"],
      id: string,
      processed: number,
      total: number,
      payload: string,
      channel: string,
      ttlSeconds: number,
    ): Result<number, Context>;
    backplaneCreateSnapshot(key: string, total: number, ttlSeconds: number): Result<number, Context>;
  }
}

/**
 * Creates a snapshot in the `queued` state and sets its expiry, atomically. It is a script rather
 * than MULTI/EXEC because ioredis (5.x) builds a pipeline object for every MULTI and copies onto
 * it each script defined on the connection, dozens once BullMQ's Queue shares it. With MULTI this
 * call cost more client CPU than BullMQ's own addJob (bench/realtime, jobs scenario).
 */
const CREATE_SNAPSHOT_LUA = `
redis.call('HSET', KEYS[1], 'state', 'queued', 'seq', 0, 'processed', 0, 'total', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
`;

/**
 * Applies one event to a snapshot hash and publishes it, atomically, so that the order of `seq`
 * is the order of publication. Once the snapshot is terminal, every later event is dropped
 * (returns -1): a retried or stalled job can never emit a second `completed`.
 * A progress event may carry a payload, a sweep's `best` list. Sweep chunks finish on several
 * job processes at once, so such an event that counts fewer items than the snapshot already
 * does is stale and dropped (returns -2). The snapshot's newer count already includes its work.
 * The message is built by concatenation so the result JSON is embedded as is, not re-encoded.
 */
const EMIT_EVENT_LUA = `
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'completed' or state == 'failed' or state == 'cancelled' then return -1 end
local kind, id, processed, total, payload, channel, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
if kind == 'progress' and payload ~= '' and tonumber(processed) < tonumber(redis.call('HGET', KEYS[1], 'processed') or '0') then return -2 end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local head = '{"type":"' .. kind .. '","id":"' .. id .. '","seq":' .. seq
local message
if kind == 'progress' then
  redis.call('HSET', KEYS[1], 'state', 'running', 'processed', processed, 'total', total)
  message = head .. ',"processed":' .. processed .. ',"total":' .. total
  if payload ~= '' then
    redis.call('HSET', KEYS[1], 'best', payload)
    message = message .. ',"best":' .. payload
  end
  message = message .. '}'
elseif kind == 'completed' then
  redis.call('HSET', KEYS[1], 'state', 'completed', 'processed', total, 'total', total, 'result', payload)
  message = head .. ',"result":' .. payload .. '}'
elseif kind == 'failed' then
  redis.call('HSET', KEYS[1], 'state', 'failed', 'error', payload)
  message = head .. ',"error":' .. payload .. '}'
else
  redis.call('HSET', KEYS[1], 'state', 'cancelled')
  message = head .. '}'
end
if kind ~= 'progress' or redis.call('TTL', KEYS[1]) < 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
end
redis.call('PUBLISH', channel, message)
return seq
`;

export interface RedisSnapshotStoreOptions {
  /** Prefix of every key and channel, so that deployments and tests can share one Redis. */
  prefix: string;
  /** How long a snapshot stays readable, in seconds, counted from its last terminal event. */
  resultTtlS: number;
}

/**
 * The source of truth for backtest snapshots when Redis is configured. Web workers create and
 * read snapshots; job processes emit events through {@link RedisSnapshotStore.emit}, which also
 * publishes them on {@link RedisSnapshotStore.channel} for the relay.
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
    if (typeof redis.backplaneEmitBacktestEvent !== "function") {
      redis.defineCommand("backplaneEmitBacktestEvent", { numberOfKeys: 1, lua: EMIT_EVENT_LUA });
    }
    if (typeof redis.backplaneCreateSnapshot !== "function") {
      redis.defineCommand("backplaneCreateSnapshot", { numberOfKeys: 1, lua: CREATE_SNAPSHOT_LUA });
    }
  }

  key(id: string): string {
    return `${this.prefix}:backtest:${id}`;
  }

  async create(id: string, total: number): Promise<void> {
    await this.redis.backplaneCreateSnapshot(this.key(id), total, this.resultTtlS);
  }

  async remove(id: string): Promise<void> {
    await this.redis.del(this.key(id));
  }

  async read(id: string): Promise<BacktestSnapshot | undefined> {
    const fields = await this.redis.hgetall(this.key(id));
    return decodeSnapshot(id, fields);
  }

  async requestCancel(id: string): Promise<void> {
    await this.redis.hset(this.key(id), "cancel", "1");
  }

  async isCancelRequested(id: string): Promise<boolean> {
    return (await this.redis.hget(this.key(id), "cancel")) === "1";
  }

  /** Stores a backtest's request as JSON in its snapshot hash, so it expires with the snapshot. */
  async saveRequest(id: string, request: BacktestRequest): Promise<void> {
    await this.redis.hset(this.key(id), "request", JSON.stringify(request));
  }

  /** Returns the request JSON that `saveRequest` stored, undecoded, or undefined when there is none. */
  async readRequest(id: string): Promise<string | undefined> {
    return (await this.redis.hget(this.key(id), "request")) ?? undefined;
  }

  /**
   * Applies and publishes one event; returns its seq, -1 when the backtest already ended, or -2
   * for a stale sweep progress event.
   */
  async emit(event: EmitInput): Promise<number> {
    const { type, id } = event;
    const processed = event.type === "progress" ? event.processed : 0;
    const total = event.type === "progress" || event.type === "completed" ? event.total : 0;
    let payload = "";
    if (event.type === "progress" && event.best !== undefined) payload = JSON.stringify(event.best);
    if (event.type === "completed") payload = JSON.stringify(event.result);
    if (event.type === "failed") payload = JSON.stringify(event.error);

    return this.redis.backplaneEmitBacktestEvent(
      this.key(id),
      type,
      id,
      processed,
      total,
      payload,
      this.channel,
      this.resultTtlS,
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
