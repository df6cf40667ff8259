/** Name of the BullMQ queue of backtests; the BullMQ prefix (REDIS_PREFIX) keeps deployments apart. */
export const BACKTEST_QUEUE = "backtests";

/** Data of one BullMQ backtest job; the job id is the backtest id. */
export type { BacktestRequest as BacktestJobData } from "./backtest-request";

/**
 * How many times a job may stall (its job process died or froze) and be handed to another job
 * process before BullMQ fails it.
 */
export const MAX_STALLED_COUNT = 2;

/**
 * Approximate length at which BullMQ trims the backtest queue's events stream. A completed job's
 * entry carries its whole result (backtest-completion.ts), so BullMQ's default of 10,000 entries
 * could hold thousands of results. Each job appends four or five entries, so this keeps the last
 * 200 to 250 completions. A web worker that falls further behind resends snapshots instead
 * (src/relay/completion-relay.ts).
 */
export const BACKTEST_EVENTS_MAX_LEN = 1_000;

/**
 * The `streams` option of every BullMQ Queue of backtests. Each Queue writes the cap to the queue's
 * meta key when it starts, so one built without it would set BullMQ's default again.
 */
export const BACKTEST_QUEUE_STREAMS = { events: { maxLen: BACKTEST_EVENTS_MAX_LEN } };

/** Returns the key of the backtest queue's BullMQ events stream under a prefix. */
export function backtestEventsKey(prefix: string): string {
  return `${prefix}:${BACKTEST_QUEUE}:events`;
}
