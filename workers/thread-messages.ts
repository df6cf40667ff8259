import type { BacktestResult, ErrorBody } from "../src/hubs/backtest-events";
import type { BacktestRequest } from "../src/queues/backtest-request";
import type { SweepChunk, SweepRequest } from "../src/queues/sweep-request";
import type { ChunkResult } from "../src/queues/sweep-results";

/** Messages from a web worker to one of its backtest threads (single-host mode). */
export type ToThread =
  | { type: "run"; id: string; request: BacktestRequest }
  | { type: "run-chunk"; id: string; request: SweepRequest; chunk: SweepChunk }
  | { type: "cancel"; id: string };

/**
 * Messages from a backtest thread to its web worker. A chunk of a sweep ends with
 * `chunk-completed`, `failed` or `cancelled` under the id it was run with.
 */
export type FromThread =
  | { type: "progress"; id: string; processed: number; total: number }
  | { type: "completed"; id: string; total: number; result: BacktestResult }
  | { type: "chunk-completed"; id: string; result: ChunkResult }
  | { type: "failed"; id: string; error: ErrorBody }
  | { type: "cancelled"; id: string };
