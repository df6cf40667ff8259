import type { Redis, Result } from "ioredis";

/**
 * The Lua scripts behind RedisSnapshotStore. Each runs atomically in Redis, so a snapshot and
 * the events published for it never disagree, whichever process writes.
 */
declare module "ioredis" {
  interface RedisCommander<Context> {
    backplaneEmitBacktestEvent(
      key: string,
      channel: string,
      ttlSeconds: number,
      type: string,
      id: string,
      processed: number,
      total: number,
      payload: string,
    ): Result<number, Context>;
    backplaneCreateSnapshot(key: string, total: number, ttlSeconds: number): Result<number, Context>;
    backplaneReadSnapshot(key: string, jobKey: string): Result<string[], Context>;
    backplaneRequestCancel(key: string, ttlSeconds: number): Result<number, Context>;
  }
}

/**
 * Applies one event to its snapshot hash and publishes it, atomically, so that the order of `seq`
 * is the order of publication. Returns the event's seq, -1 when the snapshot is already terminal
 * (a retried or stalled job can never emit a second `completed`), or -2 for a stale sweep
 * progress event.
 * A progress event may carry a payload, a sweep's `best` list. Sweep chunks finish on several
 * job processes at once, so such an event that counts fewer items than the snapshot already
 * does is stale: the snapshot's newer count already includes its work. Only sweeps emit
 * `completed` here: a backtest's result is its BullMQ job's return value (backtest-completion.ts).
 * The message is built by concatenation so that result JSON is embedded as is, not re-encoded.
 */
const EMIT_EVENT_LUA = `
local key = KEYS[1]
local channel, ttl, kind, id, processed, total, payload = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local state = redis.call('HGET', key, 'state')
if state == 'completed' or state == 'failed' or state == 'cancelled' then return -1 end
if kind == 'progress' and payload ~= '' and tonumber(processed) < tonumber(redis.call('HGET', key, 'processed') or '0') then return -2 end
local seq = redis.call('HINCRBY', key, 'seq', 1)
local head = '{"type":"' .. kind .. '","id":"' .. id .. '","seq":' .. seq
local message
if kind == 'progress' then
  if payload ~= '' then
    redis.call('HSET', key, 'state', 'running', 'processed', processed, 'total', total, 'best', payload)
    message = head .. ',"processed":' .. processed .. ',"total":' .. total .. ',"best":' .. payload .. '}'
  else
    redis.call('HSET', key, 'state', 'running', 'processed', processed, 'total', total)
    message = head .. ',"processed":' .. processed .. ',"total":' .. total .. '}'
  end
elseif kind == 'completed' then
  redis.call('HSET', key, 'state', 'completed', 'processed', total, 'total', total, 'result', payload)
  message = head .. ',"result":' .. payload .. '}'
elseif kind == 'failed' then
  redis.call('HSET', key, 'state', 'failed', 'error', payload)
  message = head .. ',"error":' .. payload .. '}'
else
  redis.call('HSET', key, 'state', 'cancelled')
  message = head .. '}'
end
if kind ~= 'progress' or redis.call('TTL', key) < 0 then
  redis.call('EXPIRE', key, ttl)
end
redis.call('PUBLISH', channel, message)
return seq
`;

/**
 * Returns a snapshot as a flat list of fields and values, from two keys: the snapshot hash
 * (KEYS[1]), which contains the events the job emitted, and the backtest's BullMQ job hash
 * (KEYS[2]).
 * - A terminal snapshot hash (cancelled, failed, or a sweep's result) comes first: a cancelled job
 *   also completes in BullMQ, with no return value.
 * - A completed job contains its result as its return value, returned as the `completion` field.
 * - A backtest's snapshot hash without its job hash belongs to a backtest whose job BullMQ removed
 *   after the result's time to live, so it reads as unknown. Sweeps have no BullMQ job of this
 *   queue, and their snapshot hashes carry a `sweep` field instead.
 * - Before the first event, a waiting job represents the `queued` snapshot, so submitting costs
 *   one command, the job's own. A finished job without a snapshot hash has expired.
 */
const READ_SNAPSHOT_LUA = `
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'completed' or state == 'failed' or state == 'cancelled' then return redis.call('HGETALL', KEYS[1]) end
local returned = redis.call('HGET', KEYS[2], 'returnvalue')
if returned and string.sub(returned, 1, 1) == '{' then return {'state', 'completed', 'completion', returned} end
local jobExists = redis.call('EXISTS', KEYS[2]) == 1
if state then
  if not jobExists and redis.call('HEXISTS', KEYS[1], 'sweep') == 0 then return {} end
  return redis.call('HGETALL', KEYS[1])
end
if jobExists and redis.call('HEXISTS', KEYS[2], 'finishedOn') == 0 then return {'state', 'queued'} end
return {}
`;

/** Sets the cancel flag, with the snapshot's expiry when the flag is the hash's first field. */
const REQUEST_CANCEL_LUA = `
redis.call('HSET', KEYS[1], 'cancel', '1')
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return 1
`;

/**
 * Creates a sweep's snapshot in the `queued` state, marked `sweep` (READ_SNAPSHOT_LUA), and sets its
 * expiry, atomically. It is a script rather
 * than MULTI/EXEC because ioredis (5.x) builds a pipeline object for every MULTI and copies onto
 * it each script defined on the connection, dozens once BullMQ's Queue shares it. With MULTI this
 * call cost more client CPU than BullMQ's own addJob (bench/realtime, jobs scenario).
 */
const CREATE_SNAPSHOT_LUA = `
redis.call('HSET', KEYS[1], 'state', 'queued', 'seq', 0, 'processed', 0, 'total', ARGV[1], 'sweep', 1)
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
`;

/** Defines the snapshot commands on a connection, once. */
export function defineSnapshotCommands(redis: Redis): void {
  if (typeof redis.backplaneEmitBacktestEvent === "function") return;
  redis.defineCommand("backplaneEmitBacktestEvent", { numberOfKeys: 1, lua: EMIT_EVENT_LUA });
  redis.defineCommand("backplaneCreateSnapshot", { numberOfKeys: 1, lua: CREATE_SNAPSHOT_LUA });
  redis.defineCommand("backplaneReadSnapshot", { numberOfKeys: 2, lua: READ_SNAPSHOT_LUA });
  redis.defineCommand("backplaneRequestCancel", { numberOfKeys: 1, lua: REQUEST_CANCEL_LUA });
}
