import type { BacktestSnapshot } from "./backtest-events";
import type { CancelOutcome } from "../queues/backtest-jobs";

/**
 * Requests between the web workers of one host, sent with `serverSideEmit` over the cluster
 * adapter. Single-host mode uses them to reach the worker that owns a backtest.
 */
export interface ServerSideEvents {
  "backtest:snapshot": (id: string, reply: (snapshot: BacktestSnapshot | null) => void) => void;
  "backtest:cancel": (id: string, reply: (outcome: CancelOutcome) => void) => void;
}
