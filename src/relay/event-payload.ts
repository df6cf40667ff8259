import type { Namespace } from "socket.io";

import {
  backtestRoom,
  type BacktestEvent,
  type BacktestSnapshot,
  type ClientToServerEvents,
  type ServerToClientEvents,
} from "../hubs/backtest-events";
import type { ServerSideEvents } from "../hubs/server-side-events";
import { toProgress } from "../queues/progress";

export type BacktestNamespace = Namespace<ClientToServerEvents, ServerToClientEvents, ServerSideEvents>;

type Target = ReturnType<BacktestNamespace["to"]>;

/** Emits one job event to a room target, as the hub's typed event of the same name. */
export function emitEvent(target: Target, event: BacktestEvent): void {
  switch (event.type) {
    case "progress":
      target.emit("progress", {
        id: event.id,
        seq: event.seq,
        ...toProgress(event.processed, event.total),
        ...(event.best === undefined ? {} : { best: event.best }),
      });
      return;
    case "completed":
      target.emit("completed", { id: event.id, seq: event.seq, result: event.result });
      return;
    case "failed":
      target.emit("failed", { id: event.id, seq: event.seq, error: event.error });
      return;
    case "cancelled":
      target.emit("cancelled", { id: event.id, seq: event.seq });
      return;
  }
}

/** The event that produced a snapshot's current state, or undefined before the first event. */
export function eventOfSnapshot(snapshot: BacktestSnapshot): BacktestEvent | undefined {
  const { id, seq } = snapshot;
  if (seq === 0) return undefined;

  switch (snapshot.state) {
    case "completed":
      return snapshot.result === undefined ? undefined : { type: "completed", id, seq, result: snapshot.result };
    case "failed":
      return snapshot.error === undefined ? undefined : { type: "failed", id, seq, error: snapshot.error };
    case "cancelled":
      return { type: "cancelled", id, seq };
    case "running":
      return {
        type: "progress",
        id,
        seq,
        ...snapshot.progress,
        ...(snapshot.best === undefined ? {} : { best: snapshot.best }),
      };
    case "queued":
      return undefined;
  }
}

/** Emits to the subscribers of one backtest that this process serves, and to no other. */
export function emitLocally(namespace: BacktestNamespace, event: BacktestEvent): void {
  emitEvent(namespace.local.to(backtestRoom(event.id)), event);
}
