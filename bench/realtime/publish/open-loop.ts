/**
 * The open-loop publisher shared by every server under test: it sends at a fixed rate whatever
 * the server does, and stamps each message with the time it was due rather than the time it
 * went out. A server that stalls the publisher's event loop (as a web worker that publishes and
 * broadcasts does) is therefore charged for the delay, instead of slowing the load down
 * (coordinated omission).
 */
import { monotonicMs } from "../clock";

export interface PublishSpec {
  /** Backtest id of the room, `backtest:<id>`. */
  id: string;
  messagesPerSecond: number;
  durationMs: number;
  /** Size of the event's JSON as clients receive it, in bytes. */
  payloadBytes: number;
  /** First `processed` value; every message adds one, so sweep steps never reuse a value. */
  firstCounter: number;
}

export interface PublishReport {
  /** Messages the server accepted, which each subscriber should receive. */
  published: number;
  /** Messages that the product's snapshot store dropped (it returned -1 or -2). */
  rejected: number;
  /** Messages whose publishing threw. */
  failed: number;
  /** How late the publisher sent messages behind schedule at worst, in milliseconds. */
  maxLagMs: number;
  /** The counter to start the next step from. */
  nextCounter: number;
}

/**
 * Sends one message per due slot. `send` receives the counter and the due time, and resolves
 * with true when the server accepted the message. Its promise is not awaited before the next send.
 */
export async function publishOpenLoop(
  spec: PublishSpec,
  send: (counter: number, dueAtMs: number) => Promise<boolean> | boolean,
): Promise<PublishReport> {
  const total = Math.max(1, Math.round((spec.messagesPerSecond * spec.durationMs) / 1000));
  const intervalMs = 1000 / spec.messagesPerSecond;
  const startedAt = monotonicMs();
  const outcomes: Promise<void>[] = [];
  const report: PublishReport = {
    published: 0,
    rejected: 0,
    failed: 0,
    maxLagMs: 0,
    nextCounter: spec.firstCounter + total,
  };

  const record = (accepted: boolean): void => {
    if (accepted) report.published += 1;
    else report.rejected += 1;
  };

  let sent = 0;
  while (sent < total) {
    const now = monotonicMs();
    const due = Math.min(total, Math.floor((now - startedAt) / intervalMs) + 1);
    for (; sent < due; sent += 1) {
      const dueAtMs = startedAt + sent * intervalMs;
      report.maxLagMs = Math.max(report.maxLagMs, now - dueAtMs);
      try {
        const outcome = send(spec.firstCounter + sent, dueAtMs);
        if (typeof outcome === "boolean") record(outcome);
        else outcomes.push(outcome.then(record, () => void (report.failed += 1)));
      } catch {
        report.failed += 1;
      }
    }
    if (sent < total) {
      const nextDue = startedAt + sent * intervalMs;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, nextDue - monotonicMs())));
    }
  }
  await Promise.all(outcomes);
  report.maxLagMs = Math.round(report.maxLagMs * 100) / 100;
  return report;
}
