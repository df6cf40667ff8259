import type { Redis, Result } from "ioredis";

import type { SweepEntry } from "../hubs/backtest-events";
import type { SweepRequest } from "./sweep-request";
import type { ChunkResult } from "./sweep-results";

declare module "ioredis" {
  interface RedisCommander<Context> {
    backplaneRecordSweepChunk(
      sweepKey: string,
      bestKey: string,
      field: string,
      result: string,
      count: number,
      invalid: number,
      ttlSeconds: number,
      nowMs: number,
      progressIntervalMs: number,
      order: string,
      ...candidates: (string | number)[]
    ): Result<[number, number, number, string[]], Context>;
  }
}

/**
 * Records one chunk's result once, so a chunk that BullMQ runs again after a stall adds nothing.
 * It counts the chunk's combinations and merges its best entries into a sorted set trimmed to
 * five. A progress event is due at most once per interval, and always for the last chunk.
 * Returns { processed, total, due, best members }.
 * Members are `<tie>:<entry JSON>`, where the tie key orders equal scores by combination index.
 */
const RECORD_CHUNK_LUA = `
local order = ARGV[8]
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'processed', ARGV[3])
  redis.call('HINCRBY', KEYS[1], 'invalid', ARGV[4])
  for i = 9, #ARGV, 2 do
    redis.call('ZADD', KEYS[2], ARGV[i], ARGV[i + 1])
  end
  if order == 'desc' then
    redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -6)
  else
    redis.call('ZREMRANGEBYRANK', KEYS[2], 5, -1)
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
local processed = tonumber(redis.call('HGET', KEYS[1], 'processed'))
local total = tonumber(redis.call('HGET', KEYS[1], 'total'))
local now = tonumber(ARGV[6])
local due = 0
if processed >= total or now - tonumber(redis.call('HGET', KEYS[1], 'progress_at') or '0') >= tonumber(ARGV[7]) then
  due = 1
  redis.call('HSET', KEYS[1], 'progress_at', now)
end
local best
if order == 'desc' then
  best = redis.call('ZREVRANGE', KEYS[2], 0, 4)
else
  best = redis.call('ZRANGE', KEYS[2], 0, 4)
end
return { processed, total, due, best }
`;

/** Largest index that the tie key of a best-set member can hold. */
const MAX_TIE = 999_999_999;

export interface RedisSweepStoreOptions {
  /** Prefix of every key, as for snapshots. */
  prefix: string;
  /** How long a sweep's request and results stay readable, in seconds. */
  resultTtlS: number;
}

export interface RecordedChunk {
  processed: number;
  total: number;
  /** Whether this chunk should publish a progress event. */
  due: boolean;
  best: SweepEntry[];
}

/** A sweep as stored: its request and the results of the chunks recorded so far. */
export interface StoredSweep {
  request: SweepRequest;
  total: number;
  results: ChunkResult[];
}

/**
 * A sweep's request and chunk results in one Redis hash (`<prefix>:sweep:<id>`), and its best
 * combinations so far in a sorted set beside it. The snapshot and events of the sweep live in
 * the snapshot store, under the same id as a backtest's.
 */
export class RedisSweepStore {
  constructor(
    private readonly redis: Redis,
    private readonly options: RedisSweepStoreOptions,
  ) {
    if (typeof redis.backplaneRecordSweepChunk !== "function") {
      redis.defineCommand("backplaneRecordSweepChunk", { numberOfKeys: 2, lua: RECORD_CHUNK_LUA });
    }
  }

  key(id: string): string {
    return `${this.options.prefix}:sweep:${id}`;
  }

  private bestKey(id: string): string {
    return `${this.key(id)}:best`;
  }

  async create(id: string, request: SweepRequest, total: number): Promise<void> {
    const key = this.key(id);
    await this.redis
      .multi()
      .hset(key, { request: JSON.stringify(request), total, processed: 0, invalid: 0 })
      .expire(key, this.options.resultTtlS)
      .exec();
  }

  async remove(id: string): Promise<void> {
    await this.redis.del(this.key(id), this.bestKey(id));
  }

  async exists(id: string): Promise<boolean> {
    return (await this.redis.exists(this.key(id))) === 1;
  }

  /** Reads the request and every recorded chunk; undefined when the sweep is unknown or expired. */
  async read(id: string): Promise<StoredSweep | undefined> {
    const fields = await this.redis.hgetall(this.key(id));
    const request = fields["request"];
    if (request === undefined) return undefined;

    const results: ChunkResult[] = [];
    for (const [field, value] of Object.entries(fields)) {
      if (field.startsWith("chunk:")) results.push(JSON.parse(value) as ChunkResult);
    }
    results.sort((a, b) => a.first - b.first);
    return { request: JSON.parse(request) as SweepRequest, total: Number(fields["total"] ?? 0), results };
  }

  /** Keeps the sweep's keys for another `resultTtlS` seconds, counted from its end. */
  async touch(id: string): Promise<void> {
    await this.redis
      .multi()
      .expire(this.key(id), this.options.resultTtlS)
      .expire(this.bestKey(id), this.options.resultTtlS)
      .exec();
  }

  /**
   * Records a chunk's result with its best entries (`candidates`, ranked by `rankBy`) and
   * returns the sweep's progress, as described at `RECORD_CHUNK_LUA`.
   */
  async recordChunk(
    id: string,
    result: ChunkResult,
    candidates: readonly SweepEntry[],
    request: Pick<SweepRequest, "rankBy" | "order">,
    progressIntervalMs: number,
  ): Promise<RecordedChunk> {
    const members: (string | number)[] = [];
    for (const entry of candidates) {
      const value = entry.stats[request.rankBy];
      if (typeof value !== "number") continue;
      const tie = request.order === "desc" ? MAX_TIE - entry.index : entry.index;
      members.push(value, `${String(tie).padStart(9, "0")}:${JSON.stringify(entry)}`);
    }

    const [processed, total, due, best] = await this.redis.backplaneRecordSweepChunk(
      this.key(id),
      this.bestKey(id),
      `chunk:${result.chunk}`,
      JSON.stringify(result),
      result.count,
      result.invalid,
      this.options.resultTtlS,
      Date.now(),
      progressIntervalMs,
      request.order,
      ...members,
    );
    return {
      processed,
      total,
      due: due === 1,
      best: best.map((member) => JSON.parse(member.slice(member.indexOf(":") + 1)) as SweepEntry),
    };
  }
}
