import type { BacktestResult, ErrorBody } from "../src/hubs/backtest-events";
import type { BacktestRequest } from "../src/queues/backtest-request";

/** Messages from a web worker to one of its backtest threads (single-host mode). */
export type ToThread = { type: "run"; id: string; request: BacktestRequest } | { type: "cancel"; id: string };

/** Messages from a backtest thread to its web worker. */
export type FromThread =
  | { type: "progress"; id: string; processed: number; total: number }
  | { type: "completed"; id: string; total: number; result: BacktestResult }
  | { type: "failed"; id: string; error: ErrorBody }
  | { type: "cancelled"; id: string };
