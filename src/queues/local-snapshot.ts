import type { BacktestEvent, BacktestSnapshot } from "../hubs/backtest-events";
import { toProgress } from "./progress";

/**
 * Numbers an event with the snapshot's next seq and applies it to the in-memory snapshot of
 * single-host mode, the way the Redis snapshot script does. Returns the numbered event.
 */
export function applyToSnapshot(snapshot: BacktestSnapshot, unnumbered: BacktestEvent): BacktestEvent {
  const event: BacktestEvent = { ...unnumbered, seq: snapshot.seq + 1 };
  snapshot.seq = event.seq;

  switch (event.type) {
    case "progress":
      snapshot.state = "running";
      snapshot.progress = toProgress(event.processed, event.total);
      if (event.best !== undefined) snapshot.best = event.best;
      break;
    case "completed":
      snapshot.state = "completed";
      snapshot.progress = toProgress(snapshot.progress.total, snapshot.progress.total);
      snapshot.result = event.result;
      break;
    case "failed":
      snapshot.state = "failed";
      snapshot.error = event.error;
      break;
    case "cancelled":
      snapshot.state = "cancelled";
      break;
  }
  return event;
}
