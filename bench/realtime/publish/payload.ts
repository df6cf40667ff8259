/**
 * The message of the fanout scenarios: a `progress` event of the `/backtest` hub, as the product
 * emits it, whose `best` field carries the publish time and padding up to the requested size.
 * `best` is a sweep's top-five list in the product. The relay embeds whatever JSON it carries
 * without looking inside, so the bench puts its own object there.
 */
import { toProgress } from "../../../src/queues/progress";

/** `total` of every bench progress event; the counter stays far below it. */
export const BENCH_TOTAL = 1_000_000_000;

/** The bench's content of `best`: the due time of the message on the monotonic clock, and padding. */
export interface BenchMarker {
  sentAt: number;
  pad: string;
}

export interface BenchProgressEvent {
  id: string;
  seq: number;
  processed: number;
  total: number;
  percent: number;
  best: BenchMarker;
}

/** Rounds a monotonic time to the microsecond, as it is written into the message. */
export function stamp(monotonicMs: number): number {
  return Math.round(monotonicMs * 1000) / 1000;
}

/**
 * Returns the padding that makes the event's JSON about `payloadBytes` long: exact for a
 * counter of seven digits and a stamp of the current magnitude, within a few bytes otherwise.
 */
export function paddingFor(id: string, payloadBytes: number, sampleStamp: number): string {
  const sample = benchEvent(id, 1_000_000, 1_000_000, { sentAt: sampleStamp, pad: "" });
  const missing = payloadBytes - Buffer.byteLength(JSON.stringify(sample));
  return "x".repeat(Math.max(0, missing));
}

/** Builds the event that the baseline servers emit; the product builds the same one from the same fields. */
export function benchEvent(id: string, seq: number, processed: number, best: BenchMarker): BenchProgressEvent {
  return { id, seq, ...toProgress(processed, BENCH_TOTAL), best };
}
