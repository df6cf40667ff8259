import type { Redis } from "ioredis";
import type { Logger } from "pino";

import { backtestRoom, type BacktestEvent, type BacktestSnapshot } from "../hubs/backtest-events";
import { emitLocally, eventOfSnapshot, type BacktestNamespace } from "./event-payload";

const ROOM_PREFIX = "backtest:";
const EVENT_TYPES: ReadonlySet<string> = new Set(["progress", "completed", "failed", "cancelled"]);
const ID_FIELD = '"id":"';
const SEQ_FIELD = '","seq":';

export interface RedisRelayOptions {
  /** A dedicated connection in subscriber mode that retries forever. */
  subscriber: Redis;
  channel: string;
  namespace: BacktestNamespace;
  readSnapshot: (id: string) => Promise<BacktestSnapshot | undefined>;
  logger: Logger;
}

/**
 * Relays job events published on Redis to the local sockets of this web worker: every event but
 * a backtest's `completed`, which comes from BullMQ's events stream (completion-relay.ts).
 *
 * Every web worker of every instance receives each event once from Redis and emits it only to
 * its own sockets, so each subscriber gets it exactly once. Broadcasting through the Redis
 * adapter instead would repeat each event once per relaying worker.
 *
 * Every worker receives every event, but most concern backtests that none of its sockets follow:
 * those are dropped after reading the id from the message's head, before any JSON work, so that
 * a worker's cost grows with the events its own subscribers follow rather than with all events
 * of the deployment. A malformed message is therefore only counted when it names a followed
 * backtest or has no readable id.
 *
 * Pub/sub drops messages while the subscriber is disconnected; after a reconnect the relay emits
 * the current snapshot of each followed backtest as its latest event, so clients detect the gap
 * in `seq` and resynchronise.
 */
export function createRedisRelay(options: RedisRelayOptions): { close(): Promise<void> } {
  const { subscriber, channel, namespace, logger } = options;
  let malformed = 0;
  let wasConnected = false;

  subscriber.on("message", (from: string, message: string) => {
    if (from !== channel) return;

    const id = idOfMessage(message);
    if (id !== undefined && !namespace.adapter.rooms.has(backtestRoom(id))) return;

    const event = decodeEvent(message);
    if (event === undefined) {
      malformed += 1;
      if (malformed === 1 || malformed % 1000 === 0) {
        logger.warn({ channel, malformed, sample: message.slice(0, 200) }, "dropped malformed backtest event");
      }
      return;
    }
    emitLocally(namespace, event);
  });

  subscriber.on("ready", () => {
    if (wasConnected) void resyncFollowedBacktests(options);
    wasConnected = true;
  });

  subscriber.subscribe(channel).catch((err: unknown) => {
    // ioredis re-subscribes by itself after reconnecting, so a failure here is not final.
    logger.warn({ err, channel }, "subscribe to backtest events failed; retrying on reconnect");
  });

  return {
    async close() {
      await subscriber.unsubscribe(channel).catch(() => undefined);
    },
  };
}

export type ResyncOptions = Pick<RedisRelayOptions, "namespace" | "readSnapshot" | "logger">;

/** Emits the current snapshot of each backtest that local sockets follow, as its latest event. */
export async function resyncFollowedBacktests(options: ResyncOptions): Promise<void> {
  const { namespace, logger } = options;
  const ids = [...namespace.adapter.rooms.keys()]
    .filter((room) => room.startsWith(ROOM_PREFIX))
    .map((room) => room.slice(ROOM_PREFIX.length));
  logger.info({ backtests: ids.length }, "resynchronising followed backtests after Redis reconnect");

  for (const id of ids) {
    const snapshot = await readWithRetry(options, id);
    const event = snapshot === undefined ? undefined : eventOfSnapshot(snapshot);
    if (event !== undefined) emitLocally(namespace, event);
  }
}

/** Attempts at reading a snapshot after a reconnect; the reading connection may still be reconnecting. */
const RESYNC_ATTEMPTS = 10;
const RESYNC_RETRY_DELAY_MS = 500;

async function readWithRetry(options: ResyncOptions, id: string): Promise<BacktestSnapshot | undefined> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await options.readSnapshot(id);
    } catch (err) {
      if (attempt >= RESYNC_ATTEMPTS) {
        options.logger.warn({ err, backtestId: id, attempts: attempt }, "resync of a followed backtest failed");
        return undefined;
      }
      await new Promise((resolve) => setTimeout(resolve, RESYNC_RETRY_DELAY_MS));
    }
  }
}

/**
 * Reads the backtest id from the head that the snapshot store's script writes,
 * `{"type":"<type>","id":"<id>","seq":...`, without parsing the message. Returns undefined when
 * the head has another shape or the id contains an escape, and the caller then parses it all.
 */
function idOfMessage(message: string): string | undefined {
  const start = message.indexOf(ID_FIELD);
  if (start < 0) return undefined;
  const from = start + ID_FIELD.length;
  const end = message.indexOf(SEQ_FIELD, from);
  if (end < 0) return undefined;
  const id = message.slice(from, end);
  return id.includes("\\") || id.includes('"') ? undefined : id;
}

function decodeEvent(message: string): BacktestEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;

  const record = value as Record<string, unknown>;
  if (typeof record["type"] !== "string" || !EVENT_TYPES.has(record["type"])) return undefined;
  if (typeof record["id"] !== "string" || typeof record["seq"] !== "number") return undefined;
  return record as unknown as BacktestEvent;
}
