import type { BacktestEvent, BacktestSnapshot } from "../hubs/backtest-events";
import type { BacktestRequest } from "./backtest-request";

export type CancelOutcome =
  | { status: "accepted"; snapshot: BacktestSnapshot }
  | { status: "finished"; snapshot: BacktestSnapshot }
  | { status: "not_found" };

export interface Readiness {
  ready: boolean;
  reason?: string;
}

/**
 * What a web worker needs from the job layer, with one implementation on BullMQ and Redis and
 * one that runs backtests in worker threads of the web worker itself (single-host mode).
 * Both reject with an `ApiError` of code `unavailable` when the job layer cannot take requests.
 */
export interface BacktestJobs {
  /** Queues a validated request; resolves with the new backtest's id. */
  submit(request: BacktestRequest): Promise<string>;
  /** The current snapshot from any worker or instance, or undefined for an unknown id. */
  snapshot(id: string): Promise<BacktestSnapshot | undefined>;
  /**   * The request a completed backtest was submitted with, kept as long as its snapshot. It is
   * undefined for an unknown id, and may be undefined for a backtest that has not completed.
   */
  request(id: string): Promise<BacktestRequest | undefined>;
  cancel(id: string): Promise<CancelOutcome>;
  readiness(): Readiness;
  close(): Promise<void>;
}

/** Delivers a job event to the subscribers that this process serves. */
export type EventSink = (event: BacktestEvent) => void;
