import type { Socket } from "socket.io-client";

import type {
  BacktestSnapshot,
  CancelledEvent,
  ClientToServerEvents,
  CompletedEvent,
  FailedEvent,
  ProgressEvent,
  ServerToClientEvents,
} from "../hubs/backtest-events";

export type BacktestSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/**
 * Why a follow subscribed again: a gap in the event sequence, a reconnect of the socket, or a subscribe that got
 * no acknowledgement in time.
 */
export type ResyncReason = "gap" | "reconnect" | "ack_timeout";

/**
 * Callbacks of one follow. Each terminal handler (`onCompleted`, `onFailed`, `onCancelled`) fires at most once
 * per follow, whether the terminal state arrives as an event or in a snapshot.
 * A handler other than `onError` that throws stops the follow, and `done` rejects with the thrown error.
 */
export interface FollowHandlers {
  /** Receives each snapshot taken from a subscribe acknowledgement, on the first subscribe and after each resync. */
  onSnapshot?(snapshot: BacktestSnapshot): void;
  onProgress?(event: ProgressEvent): void;
  /** Receives the `completed` event, or one built from a completed snapshot. */
  onCompleted?(event: CompletedEvent): void;
  /** Receives the `failed` event, or one built from a failed snapshot. */
  onFailed?(event: FailedEvent): void;
  /** Receives the `cancelled` event, or one built from a cancelled snapshot. */
  onCancelled?(event: CancelledEvent): void;
  /** Called before a subscribe is sent again because of a gap, a reconnect or an acknowledgement timeout. */
  onResync?(reason: ResyncReason): void;
  /**
   * Receives every error. A fatal error (the subscribe was rejected, a payload broke the contract, the connection
   * was closed for good) also rejects `done`. The others are not fatal: connection errors while socket.io
   * reconnects, an `unavailable` subscribe that is retried, a gap that a new snapshot did not close.
   */
  onError?(error: Error): void;
}

export interface FollowCounters {
  /** Events skipped because their seq was not above the last applied seq. */
  duplicatesSkipped: number;
  /** Subscribes sent again because of a gap in seq or an acknowledgement timeout. */
  resyncs: number;
  /** Subscribes sent again because the socket reconnected. */
  reconnects: number;
}

/** A live view of one backtest, kept in seq order over the `/backtest` hub. */
export interface Follow {
  readonly id: string;
  /**
   * Resolves with the final snapshot once the backtest reaches a terminal state. Rejects with the fatal error,
   * or with FollowStoppedError after `unsubscribe()` or the client's `close()`.
   */
  readonly done: Promise<BacktestSnapshot>;
  readonly counters: Readonly<FollowCounters>;
  /** The state built from the last snapshot and the events applied since, or undefined before the first snapshot. */
  readonly snapshot: BacktestSnapshot | undefined;
  /** The `worker` of the last subscribe acknowledgement: the web worker that serves this socket. */
  readonly worker: string | undefined;
  /** Stops the follow and leaves the job's room. `done` rejects with FollowStoppedError unless already settled. */
  unsubscribe(): void;
}
