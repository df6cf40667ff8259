import path from "node:path";
import { Worker } from "node:worker_threads";

import type { Logger } from "pino";

import type { BacktestRequest } from "./backtest-request";
import type { SweepChunk, SweepRequest } from "./sweep-request";
import type { FromThread, ToThread } from "../../workers/thread-messages";

/** A message that starts work on a thread: a backtest or a chunk of a sweep. */
type RunMessage = Extract<ToThread, { type: "run" | "run-chunk" }>;

/** Compiled entry of the backtest thread, next to this file's compiled output. */
const THREAD_ENTRY = path.resolve(__dirname, "../../workers/backtest-thread.js");

export interface ThreadPoolOptions {
  /** Threads that run backtests at the same time. */
  size: number;
  onMessage: (message: FromThread) => void;
  logger: Logger;
}

interface Slot {
  thread: Worker;
  runningId: string | undefined;
}

/**
 * A fixed pool of worker threads, each running one backtest at a time, with a FIFO queue of the
 * requests that wait for a thread. A thread that dies is replaced and its backtest fails.
 */
export class BacktestThreadPool {
  private readonly slots: Slot[] = [];
  private readonly waiting: RunMessage[] = [];
  private closing = false;

  constructor(private readonly options: ThreadPoolOptions) {
    for (let i = 0; i < options.size; i += 1) this.slots.push(this.spawn());
  }

  run(id: string, request: BacktestRequest): void {
    this.waiting.push({ type: "run", id, request });
    this.dispatch();
  }

  /** Queues one chunk of a sweep; it ends with a `chunk-completed`, `failed` or `cancelled` message. */
  runChunk(id: string, request: SweepRequest, chunk: SweepChunk): void {
    this.waiting.push({ type: "run-chunk", id, request, chunk });
    this.dispatch();
  }

  /** Removes a request that has not started; returns false when it is running or unknown. */
  dequeue(id: string): boolean {
    const index = this.waiting.findIndex((entry) => entry.id === id);
    if (index < 0) return false;
    this.waiting.splice(index, 1);
    return true;
  }

  cancel(id: string): void {
    const slot = this.slots.find((candidate) => candidate.runningId === id);
    slot?.thread.postMessage({ type: "cancel", id } satisfies ToThread);
  }

  async close(): Promise<void> {
    this.closing = true;
    this.waiting.length = 0;
    await Promise.all(this.slots.map((slot) => slot.thread.terminate()));
  }

  private spawn(): Slot {
    const slot: Slot = { thread: new Worker(THREAD_ENTRY), runningId: undefined };

    slot.thread.on("message", (message: FromThread) => {
      if (message.type !== "progress" && message.id === slot.runningId) {
        slot.runningId = undefined;
        queueMicrotask(() => this.dispatch());
      }
      this.options.onMessage(message);
    });
    slot.thread.on("error", (err) => this.options.logger.error({ err }, "backtest thread crashed"));
    slot.thread.on("exit", (code) => this.replace(slot, code));
    return slot;
  }

  private replace(slot: Slot, exitCode: number): void {
    if (this.closing) return;

    const lostId = slot.runningId;
    this.options.logger.error({ exitCode, backtestId: lostId }, "backtest thread exited; starting a new one");
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots[index] = this.spawn();
    if (lostId !== undefined) {
      this.options.onMessage({
        type: "failed",
        id: lostId,
        error: { code: "internal", message: `backtest failed: its thread exited with code ${exitCode}` },
      });
    }
    this.dispatch();
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.runningId !== undefined) continue;
      const next = this.waiting.shift();
      if (next === undefined) return;
      slot.runningId = next.id;
      slot.thread.postMessage(next satisfies ToThread);
    }
  }
}
