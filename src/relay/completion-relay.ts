import type { Redis } from "ioredis";
import type { Logger } from "pino";

import { backtestRoom } from "../hubs/backtest-events";
import { decodeCompletion } from "../queues/backtest-completion";
import { createRepeatFilter } from "../logging/repeat-filter";
import { emitLocally, type BacktestNamespace } from "./event-payload";

/**
 * Stream entries read per call. It must stay below BACKTEST_EVENTS_MAX_LEN: a stream trimmed past
 * the reader's position still contains at least that many newer entries, so only a full read can
 * follow a gap, and only then does the relay look for one.
 */
const READ_COUNT = 200;
/** How long one XREAD waits for new entries; the loop simply reads again after it. */
const BLOCK_MS = 5_000;
/** Pause after a failed read that was not a lost connection, so the loop never spins. */
const RETRY_DELAY_MS = 1_000;
const ERROR_LOG_INTERVAL_MS = 30_000;

export interface CompletionRelayOptions {
  /** A dedicated connection for the blocking XREAD, with an offline queue, retrying forever. */
  reader: Redis;
  /** The backtest queue's BullMQ events stream, `<prefix>:backtests:events`. */
  streamKey: string;
  namespace: BacktestNamespace;
  /**
   * Called when completions may have been missed, to resend the current snapshots of followed
   * backtests: when the reader is ready again after a disconnection, and when the stream was
   * trimmed past the last entry read.
   */
  resync: () => void;
  logger: Logger;
}

/**
 * Relays completed backtests from the backtest queue's BullMQ events stream to the local sockets
 * of this web worker. A backtest's result is its job's return value, which BullMQ appends to that
 * stream in the command that completes the job (src/queues/backtest-completion.ts). So `completed`
 * comes from here, while progress, `failed` and `cancelled` come through the Redis relay.
 *
 * Like that relay, every web worker reads every entry and emits to its own sockets only, so each
 * subscriber gets the event once. Entries of other kinds and completions of backtests that no
 * local socket follows are dropped before their return value is parsed.
 *
 * BullMQ's QueueEvents would read the same stream, but it parses the return value of every
 * completed job in every web worker, including the many that nobody here follows.
 *
 * The reader resumes from the last entry it read, so a short disconnection loses nothing. The
 * stream is capped (BACKTEST_EVENTS_MAX_LEN), so a reader that fell that far behind, or was
 * disconnected for long, calls `resync` instead.
 */
export function createCompletionRelay(options: CompletionRelayOptions): { close(): Promise<void> } {
  const { reader, streamKey, namespace, logger } = options;
  const errors = createRepeatFilter(ERROR_LOG_INTERVAL_MS);
  let closing = false;
  let malformed = 0;
  let wasReady = reader.status === "ready";

  const onReady = () => {
    if (wasReady) options.resync();
    wasReady = true;
  };
  reader.on("ready", onReady);

  const relayEntry = (fields: string[]): void => {
    // BullMQ writes `event` first; most entries are not completions.
    if (fields[0] !== "event" || fields[1] !== "completed") return;
    let id: string | undefined;
    let returnvalue: string | undefined;
    for (let i = 2; i + 1 < fields.length; i += 2) {
      if (fields[i] === "jobId") id = fields[i + 1];
      else if (fields[i] === "returnvalue") returnvalue = fields[i + 1];
    }
    if (id === undefined || !namespace.adapter.rooms.has(backtestRoom(id))) return;

    const completion = decodeCompletion(returnvalue);
    if (completion === undefined) return;
    if (completion instanceof Error) {
      malformed += 1;
      if (malformed === 1 || malformed % 1000 === 0) {
        logger.warn({ streamKey, backtestId: id, malformed, err: completion }, "dropped malformed backtest completion");
      }
      return;
    }
    emitLocally(namespace, { type: "completed", id, seq: completion.seq, result: completion.result });
  };

  const readLoop = async (): Promise<void> => {
    // `$` reads only what is appended after the first call; later calls resume from the last entry.
    let lastId = "$";
    while (!closing) {
      let reply: [string, [string, string[]][]][] | null;
      try {
        reply = await reader.xread("COUNT", READ_COUNT, "BLOCK", BLOCK_MS, "STREAMS", streamKey, lastId);
      } catch (err) {
        if (closing) return;
        const suppressed = errors.admit(err instanceof Error ? err.message : String(err));
        if (suppressed !== undefined)
          logger.warn({ err, streamKey, suppressed }, "reading backtest completions failed");
        await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
        continue;
      }
      const readFrom = lastId;
      for (const [, entries] of reply ?? []) {
        for (const [entryId, fields] of entries) {
          lastId = entryId;
          relayEntry(fields);
        }
        if (entries.length === READ_COUNT && readFrom !== "$") void resyncAfterTrim(readFrom);
      }
    }
  };

  /**
   * Calls `resync` when the stream was trimmed past `readFrom`. BullMQ trims the oldest entries
   * first, so while the entry last read is still there, nothing after it is gone.
   */
  const resyncAfterTrim = async (readFrom: string): Promise<void> => {
    try {
      if ((await reader.xrange(streamKey, readFrom, readFrom)).length > 0) return;
      logger.warn({ streamKey, readFrom }, "backtest completions were trimmed before this worker read them");
      options.resync();
    } catch (err) {
      logger.warn({ err, streamKey }, "could not check the backtest events stream for a gap");
    }
  };
  void readLoop();

  return {
    close() {
      closing = true;
      reader.off("ready", onReady);
      // The blocked XREAD fails when the caller, who owns the connection, disconnects it, and
      // the loop then ends.
      return Promise.resolve();
    },
  };
}
