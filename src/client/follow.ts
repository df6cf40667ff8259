import {
  TERMINAL_STATES,
  type BacktestEvent,
  type BacktestSnapshot,
  type ErrorReply,
  type SubscribeReply,
} from "../hubs/backtest-events";
import { BacktestApiError, BacktestProtocolError, FollowStoppedError, toError } from "./errors";
import type { BacktestSocket, Follow, FollowCounters, FollowHandlers, ResyncReason } from "./follow-types";
import { parseSubscribeReply } from "./payloads";

/** Settings the client passes to each follow. */
export interface FollowSettings {
  /** Time in ms to wait for a subscribe acknowledgement before subscribing again. */
  ackTimeoutMs: number;
  /** Delay in ms before a subscribe rejected with `unavailable` is retried. */
  subscribeRetryDelayMs: number;
  /** Maximum number of consecutive subscribes that time out or get `unavailable` before the follow fails. */
  maxSubscribeRetries: number;
  /** Called with the `worker` of each subscribe acknowledgement. */
  onWorker(worker: string): void;
  /** Called once when the follow stops for any reason, so that the client can drop it and leave the room. */
  onStop(follow: BacktestFollow): void;
}

/**
 * Maximum number of events held while a subscribe is in flight. Events beyond it are dropped. If the snapshot
 * does not cover them, they leave a gap that is handled like any other.
 */
const MAX_BUFFERED_EVENTS = 1_000;

type Phase = "idle" | "subscribing" | "live" | "finished";

/**
 * The ordering state machine behind `Follow`. The client routes socket events to `handleEvent` and socket
 * connection changes to `handleConnect` / `handleDisconnect`. Invariant: `current.seq` is the last applied seq,
 * and every applied event has exactly that seq plus one, except a gap that a fresh snapshot did not close.
 */
export class BacktestFollow implements Follow {
  readonly done: Promise<BacktestSnapshot>;
  readonly counters: FollowCounters = { duplicatesSkipped: 0, resyncs: 0, reconnects: 0 };

  private phase: Phase = "idle";
  /** Number of the latest subscribe, so that acknowledgements of older ones are ignored. */
  private attempt = 0;
  private current: BacktestSnapshot | undefined;
  private lastWorker: string | undefined;
  /** Events received while no snapshot is applied yet or a subscribe is in flight. */
  private buffered: BacktestEvent[] = [];
  private resyncingForGap = false;
  private disconnectedSinceSubscribe = false;
  private subscribeFailures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private resolveDone!: (snapshot: BacktestSnapshot) => void;
  private rejectDone!: (error: Error) => void;

  constructor(
    readonly id: string,
    private readonly socket: BacktestSocket,
    private readonly handlers: FollowHandlers,
    private readonly settings: FollowSettings,
  ) {
    this.done = new Promise<BacktestSnapshot>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // A caller that only uses the handlers never awaits done, and its rejection must not crash the process.
    this.done.catch(() => undefined);
  }

  get snapshot(): BacktestSnapshot | undefined {
    return this.current;
  }

  get worker(): string | undefined {
    return this.lastWorker;
  }

  /** Subscribes now if the socket is connected. Otherwise the client's `connect` handler calls handleConnect. */
  start(): void {
    if (this.socket.connected) {
      this.subscribe();
    }
  }

  unsubscribe(): void {
    this.stop(new FollowStoppedError(`stopped following backtest ${this.id} before it reached a terminal state`));
  }

  handleConnect(): void {
    // Only an idle follow subscribes, so a connect seen twice cannot send two subscribes.
    if (this.phase !== "idle") {
      return;
    }

    if (this.disconnectedSinceSubscribe) {
      // The room membership ended with the old connection, and events may have been missed meanwhile.
      this.disconnectedSinceSubscribe = false;
      this.counters.reconnects += 1;
      this.notifyResync("reconnect");
    }
    this.subscribe();
  }

  handleDisconnect(): void {
    if (this.phase === "finished") {
      return;
    }

    if (this.phase !== "idle") {
      this.disconnectedSinceSubscribe = true;
    }
    // socket.io calls pending timeout acknowledgements with an error on disconnect. Ignore them.
    this.attempt += 1;
    this.phase = "idle";
    this.clearRetryTimer();
  }

  /** Applies an event of this job in seq order, buffering it while a subscribe is in flight. */
  handleEvent(event: BacktestEvent, acceptGap = false): void {
    if (this.phase === "finished") {
      return;
    }
    if (this.phase !== "live" || this.current === undefined) {
      this.buffer(event);
      return;
    }

    const lastSeq = this.current.seq;
    if (event.seq <= lastSeq) {
      this.counters.duplicatesSkipped += 1;
      return;
    }

    if (event.seq > lastSeq + 1) {
      if (!acceptGap) {
        this.resyncForGap(event);
        return;
      }
      // A snapshot taken after the gap still did not cover it. Subscribing again could loop, so apply the event.
      this.reportError(
        new BacktestProtocolError(
          `backtest ${this.id}: events ${lastSeq + 1} to ${event.seq - 1} are missing and the snapshot at seq ` +
            `${lastSeq} does not cover them; applying event ${event.seq} anyway`,
        ),
      );
    }
    this.applyEvent(event);
  }

  /** Stops the follow with a fatal error: reports it to onError and rejects done. */
  fail(error: Error): void {
    if (this.phase === "finished") {
      return;
    }
    this.reportError(error);
    this.stop(error);
  }

  /** Passes a non-fatal error to onError. */
  reportError(error: Error): void {
    try {
      this.handlers.onError?.(error);
    } catch {
      // onError has nowhere to report its own failure, and done settles with the original error anyway.
    }
  }

  private resyncForGap(event: BacktestEvent): void {
    this.counters.resyncs += 1;
    this.resyncingForGap = true;
    this.buffer(event);
    this.notifyResync("gap");
    if (this.phase !== "finished") {
      this.subscribe();
    }
  }

  private buffer(event: BacktestEvent): void {
    if (this.buffered.length < MAX_BUFFERED_EVENTS) {
      this.buffered.push(event);
    }
  }

  private subscribe(): void {
    this.clearRetryTimer();
    this.attempt += 1;
    const attempt = this.attempt;
    this.phase = "subscribing";

    this.socket.timeout(this.settings.ackTimeoutMs).emit("subscribe", { id: this.id }, (error, reply) => {
      if (attempt !== this.attempt || this.phase !== "subscribing") {
        return;
      }
      if (error) {
        this.handleAckTimeout();
        return;
      }
      this.handleSubscribeReply(reply);
    });
  }

  private handleAckTimeout(): void {
    if (!this.countSubscribeFailure(`no subscribe acknowledgement within ${this.settings.ackTimeoutMs} ms`)) {
      return;
    }
    this.counters.resyncs += 1;
    this.notifyResync("ack_timeout");
    if (this.phase !== "finished") {
      this.subscribe();
    }
  }

  private handleSubscribeReply(payload: unknown): void {
    let reply: SubscribeReply | ErrorReply;
    try {
      reply = parseSubscribeReply(payload);
    } catch (error) {
      this.fail(toError(error));
      return;
    }

    if ("error" in reply) {
      const error = BacktestApiError.fromErrorBody(reply.error);
      if (error.code !== "unavailable") {
        this.fail(error);
        return;
      }
      if (this.countSubscribeFailure(error.message)) {
        this.reportError(error);
        this.retryTimer = setTimeout(() => this.subscribe(), this.settings.subscribeRetryDelayMs);
      }
      return;
    }

    this.subscribeFailures = 0;
    this.lastWorker = reply.worker;
    this.settings.onWorker(reply.worker);
    this.applySnapshot(reply.snapshot);
  }

  /** Counts one failed subscribe. Returns false, after failing the follow, once the retries are used up. */
  private countSubscribeFailure(reason: string): boolean {
    this.subscribeFailures += 1;
    if (this.subscribeFailures <= this.settings.maxSubscribeRetries) {
      return true;
    }
    this.fail(
      new BacktestApiError(503, {
        code: "unavailable",
        message: `subscribe to backtest ${this.id} failed ${this.subscribeFailures} times in a row (last: ${reason})`,
      }),
    );
    return false;
  }

  private applySnapshot(snapshot: BacktestSnapshot): void {
    if (snapshot.id !== this.id) {
      this.fail(new BacktestProtocolError(`subscribe to backtest ${this.id} returned the snapshot of ${snapshot.id}`));
      return;
    }

    const acceptGap = this.resyncingForGap;
    this.resyncingForGap = false;
    this.phase = "live";

    // A snapshot older than the events already applied would move the state back, so keep the newer state.
    const isStale = this.current !== undefined && snapshot.seq < this.current.seq;
    if (!isStale) {
      this.current = snapshot;
      this.invoke(() => this.handlers.onSnapshot?.(snapshot));
      if (TERMINAL_STATES.has(snapshot.state)) {
        this.finishFromSnapshot(snapshot);
        return;
      }
    }

    // Events that arrived during the subscribe: those up to the snapshot's seq count as duplicates.
    const pending = this.buffered.sort((a, b) => a.seq - b.seq);
    this.buffered = [];
    for (const event of pending) {
      this.handleEvent(event, acceptGap);
    }
  }

  private applyEvent(event: BacktestEvent): void {
    const current = this.current;
    if (current === undefined) {
      return;
    }

    switch (event.type) {
      case "progress": {
        const { processed, total, percent, best } = event;
        const state = current.state === "queued" ? "running" : current.state;
        this.current = { ...current, state, seq: event.seq, progress: { processed, total, percent } };
        // A sweep's progress carries its best combinations so far, as its snapshot does.
        if (best !== undefined) this.current.best = best;
        this.invoke(() => this.handlers.onProgress?.(withoutType(event)));
        return;
      }
      case "completed":
        this.current = { ...current, state: "completed", seq: event.seq, result: event.result };
        this.finish(() => this.handlers.onCompleted?.(withoutType(event)));
        return;
      case "failed":
        this.current = { ...current, state: "failed", seq: event.seq, error: event.error };
        this.finish(() => this.handlers.onFailed?.(withoutType(event)));
        return;
      case "cancelled":
        this.current = { ...current, state: "cancelled", seq: event.seq };
        this.finish(() => this.handlers.onCancelled?.(withoutType(event)));
        return;
    }
  }

  /** Fires the terminal handler for a snapshot in a terminal state, as if its event had arrived. */
  private finishFromSnapshot(snapshot: BacktestSnapshot): void {
    const { id, seq } = snapshot;

    switch (snapshot.state) {
      case "completed": {
        const result = snapshot.result;
        if (result === undefined) {
          this.fail(new BacktestProtocolError(`the snapshot of completed backtest ${id} has no result`));
          return;
        }
        this.finish(() => this.handlers.onCompleted?.({ id, seq, result }));
        return;
      }
      case "failed": {
        const error = snapshot.error ?? { code: "internal", message: `backtest ${id} failed without an error` };
        this.finish(() => this.handlers.onFailed?.({ id, seq, error }));
        return;
      }
      case "cancelled":
        this.finish(() => this.handlers.onCancelled?.({ id, seq }));
        return;
      case "queued":
      case "running":
        return;
    }
  }

  /** Marks the follow finished before calling the terminal handler, so that no later path can call one again. */
  private finish(callTerminalHandler: () => void): void {
    if (this.phase === "finished" || this.current === undefined) {
      return;
    }
    const final = this.current;
    this.markFinished();

    try {
      callTerminalHandler();
    } catch (error) {
      this.reportError(toError(error));
      this.rejectDone(toError(error));
      return;
    }
    this.resolveDone(final);
  }

  private stop(error: Error): void {
    if (this.phase === "finished") {
      return;
    }
    this.markFinished();
    this.rejectDone(error);
  }

  private markFinished(): void {
    this.phase = "finished";
    this.buffered = [];
    this.clearRetryTimer();
    this.settings.onStop(this);
  }

  /** Calls a non-terminal handler. A handler that throws fails the follow. */
  private invoke(callHandler: () => void): void {
    try {
      callHandler();
    } catch (error) {
      this.fail(toError(error));
    }
  }

  private notifyResync(reason: ResyncReason): void {
    this.invoke(() => this.handlers.onResync?.(reason));
  }

  private clearRetryTimer(): void {
    if (this.retryTimer !== undefined) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
  }
}

function withoutType<T extends BacktestEvent>(event: T): Omit<T, "type"> {
  const { type: _type, ...payload } = event;
  return payload;
}
