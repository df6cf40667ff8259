import type { BacktestSnapshot } from "./backtest-events";
import type { CancelOutcome } from "../queues/backtest-jobs";
import type { BacktestRequest } from "../queues/backtest-request";
import type { HeatmapOutcome, HeatmapQuery } from "../queues/sweep-results";

/**
 * Requests between the web workers of one host, sent with `serverSideEmit` over the cluster
 * adapter. Single-host mode uses them to reach the worker that owns a backtest or a sweep.
 */
export interface ServerSideEvents {
  "backtest:snapshot": (id: string, reply: (snapshot: BacktestSnapshot | null) => void) => void;
  "backtest:cancel": (id: string, reply: (outcome: CancelOutcome) => void) => void;
  "backtest:request": (id: string, reply: (request: BacktestRequest | null) => void) => void;
  "sweep:snapshot": (id: string, reply: (snapshot: BacktestSnapshot | null) => void) => void;
  "sweep:cancel": (id: string, reply: (outcome: CancelOutcome) => void) => void;
  "sweep:heatmap": (id: string, query: HeatmapQuery, reply: (outcome: HeatmapOutcome) => void) => void;
}
