import type { BacktestResult } from "../hubs/backtest-events";

/**
 * The value a backtest job returns to BullMQ when it completes. BullMQ stores it as the job's
 * `returnvalue` and appends it to the queue's events stream in the same command that completes
 * the job, so the result needs no write of its own. The snapshot store reads it from the job hash,
 * and the completion relay reads it from the stream.
 */
export interface BacktestCompletion {
  /** The `completed` event's seq: one more than the last event the job emitted. */
  seq: number;
  /** Bars processed, which is also the progress total. */
  total: number;
  result: BacktestResult;
}

/**
 * Decodes a `returnvalue` as BullMQ stores it. Returns undefined for a job that returned nothing
 * (a cancelled or skipped backtest), and an Error when the value is not a completion, which means
 * that another program wrote to the queue.
 */
export function decodeCompletion(returnvalue: string | undefined): BacktestCompletion | Error | undefined {
  if (returnvalue === undefined || returnvalue === "" || returnvalue === "null") return undefined;

  let value: unknown;
  try {
    value = JSON.parse(returnvalue);
  } catch {
    return new Error(`backtest job return value is not JSON: ${returnvalue.slice(0, 80)}`);
  }
  if (typeof value !== "object" || value === null) {
    return new Error(`backtest job return value is not an object: ${returnvalue.slice(0, 80)}`);
  }
  const record = value as Record<string, unknown>;
  if (typeof record["seq"] !== "number" || typeof record["total"] !== "number") {
    return new Error(`backtest job return value has no numeric seq and total: ${returnvalue.slice(0, 80)}`);
  }
  if (typeof record["result"] !== "object" || record["result"] === null) {
    return new Error(`backtest job return value has no result: ${returnvalue.slice(0, 80)}`);
  }
  return record as unknown as BacktestCompletion;
}
