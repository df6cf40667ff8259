import { expect } from "vitest";

import {
  createBacktestClient,
  type BacktestClient,
  type BacktestClientOptions,
  type Follow,
} from "../../src/client/backtest-client";
import type { BacktestSnapshot } from "../../src/hubs/backtest-events";

/** One thing a follow applied: a snapshot from a subscribe ack, or an event, with its seq. */
export interface TimelineEntry {
  kind: "snapshot" | "progress" | "completed" | "failed" | "cancelled";
  seq: number;
  /** Bars processed, for snapshots and progress events. */
  processed?: number;
  /** `worker` of the follow when the entry was applied. */
  worker: string | undefined;
}

/** A follow of the client module with everything its handlers received. */
export interface RecordedFollow {
  client: BacktestClient;
  follow: Follow;
  timeline: TimelineEntry[];
  /** Calls of onCompleted, onFailed and onCancelled together. */
  terminalCalls: TimelineEntry[];
  errors: Error[];
}

/**
 * Follows backtest `id` with the client module, as an application would: the module reconnects,
 * re-subscribes, skips duplicates and resynchronises by itself, and the handlers only record.
 */
export function followRecorded(options: BacktestClientOptions, id: string): RecordedFollow {
  const client = createBacktestClient(options);
  const timeline: TimelineEntry[] = [];
  const terminalCalls: TimelineEntry[] = [];
  const errors: Error[] = [];
  const worker = () => follow.worker;

  const follow = client.follow(id, {
    onSnapshot: (snapshot) =>
      timeline.push({ kind: "snapshot", seq: snapshot.seq, processed: snapshot.progress.processed, worker: worker() }),
    onProgress: (event) =>
      timeline.push({ kind: "progress", seq: event.seq, processed: event.processed, worker: worker() }),
    onCompleted: (event) => {
      const entry: TimelineEntry = { kind: "completed", seq: event.seq, worker: worker() };
      timeline.push(entry);
      terminalCalls.push(entry);
    },
    onFailed: (event) => {
      const entry: TimelineEntry = { kind: "failed", seq: event.seq, worker: worker() };
      timeline.push(entry);
      terminalCalls.push(entry);
    },
    onCancelled: (event) => {
      const entry: TimelineEntry = { kind: "cancelled", seq: event.seq, worker: worker() };
      timeline.push(entry);
      terminalCalls.push(entry);
    },
    onError: (error) => errors.push(error),
  });
  return { client, follow, timeline, terminalCalls, errors };
}

/** Waits for a follow's `done`, failing after `timeoutMs` with what the follow has seen so far. */
export async function doneWithin(recorded: RecordedFollow, timeoutMs: number): Promise<BacktestSnapshot> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const last = recorded.timeline.slice(-5).map((entry) => `${entry.kind}@${entry.seq}`);
      const errors = recorded.errors.map((error) => error.message).slice(-3);
      reject(
        new Error(
          `follow of ${recorded.follow.id} not done after ${timeoutMs} ms; last entries ${last.join(", ")}; ` +
            `counters ${JSON.stringify(recorded.follow.counters)}; errors ${JSON.stringify(errors)}`,
        ),
      );
    }, timeoutMs);
  });
  try {
    return await Promise.race([recorded.follow.done, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once the follow applied progress beyond `processed` bars; throws after `timeoutMs`. */
export async function progressBeyond(recorded: RecordedFollow, processed: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!recorded.timeline.some((entry) => entry.kind === "progress" && (entry.processed ?? 0) > processed)) {
    if (Date.now() >= deadline) {
      throw new Error(`follow of ${recorded.follow.id} saw no progress beyond ${processed} bars in ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Asserts that a follow missed nothing and repeated nothing. Every event it applied has the seq
 * after the entry before it, the event or snapshot it was applied on. A snapshot never moves
 * back. Exactly one terminal handler ran, last. A terminal state taken from a snapshot shows as
 * that snapshot followed by its terminal entry at the same seq.
 */
export function expectFollowedOnce(recorded: RecordedFollow, final: BacktestSnapshot): void {
  const { timeline, terminalCalls } = recorded;
  expect(timeline[0]?.kind, "the first entry of a follow is its snapshot").toBe("snapshot");

  for (let i = 1; i < timeline.length; i += 1) {
    const previous = timeline[i - 1] as TimelineEntry;
    const entry = timeline[i] as TimelineEntry;
    const where = `entry ${i} (${entry.kind}@${entry.seq} after ${previous.kind}@${previous.seq})`;
    if (entry.kind === "snapshot") {
      expect(entry.seq, `${where}: a snapshot moved back`).toBeGreaterThanOrEqual(previous.seq);
    } else if (entry.kind !== "progress" && previous.kind === "snapshot" && entry.seq === previous.seq) {
      // The terminal state came in the snapshot itself.
    } else {
      expect(entry.seq, `${where}: an event was skipped or repeated`).toBe(previous.seq + 1);
    }
  }

  expect(terminalCalls.map((entry) => entry.kind)).toEqual([final.state]);
  expect(timeline.at(-1)).toBe(terminalCalls[0]);
  expect(terminalCalls[0]?.seq).toBe(final.seq);
}

/**
 * Returns whether the bars processed, as the follow's snapshots and progress events gave them, went back
 * at some point: the backtest restarted.
 */
export function progressRestarted(recorded: RecordedFollow): boolean {
  const processed = recorded.timeline.flatMap((entry) => (entry.processed === undefined ? [] : [entry.processed]));
  return processed.some((value, i) => i > 0 && value < (processed[i - 1] ?? 0));
}

/** Asserts that the REST snapshot and a follow's final snapshot tell the same outcome. */
export function expectSameOutcome(rest: BacktestSnapshot, final: BacktestSnapshot): void {
  expect(rest.state).toBe(final.state);
  expect(rest.seq).toBe(final.seq);
  // The client module's schema keeps only the result fields of the hub contract, so compare those.
  expect(rest.result?.stats).toEqual(final.result?.stats);
  expect(rest.result?.trades).toEqual(final.result?.trades);
  expect(rest.error).toEqual(final.error);
}
