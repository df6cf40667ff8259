/** Name of the BullMQ queue of backtests; the BullMQ prefix (REDIS_PREFIX) keeps deployments apart. */
export const BACKTEST_QUEUE = "backtests";

/** Data of one BullMQ backtest job; the job id is the backtest id. */
export type { BacktestRequest as BacktestJobData } from "./backtest-request";

/**
 * How many times a job may stall (its job process died or froze) and be handed to another job
 * process before BullMQ fails it.
 */
export const MAX_STALLED_COUNT = 2;
