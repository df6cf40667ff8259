import type { BacktestSnapshot } from "../hubs/backtest-events";
import type { BacktestJobs, CancelOutcome } from "./backtest-jobs";
import type { SweepRequest } from "./sweep-request";
import type { HeatmapOutcome, HeatmapQuery } from "./sweep-results";

/**
 * What a web worker needs to run parameter sweeps, with one implementation on BullMQ and Redis
 * and one on the web worker's threads (single-host mode). A sweep's snapshot and events have
 * the shape of a backtest's, with `processed` and `total` counting combinations, so `/backtest`
 * subscribers follow a sweep by its id. Methods reject with an `ApiError` of code `unavailable`
 * when the job layer cannot take requests.
 */
export interface SweepJobs {
  /** Starts a validated sweep whose dataset has `rows` bars; resolves with its id. */
  submit(request: SweepRequest, rows: number): Promise<string>;
  /** The current snapshot, or undefined for an id that is not a known sweep. */
  snapshot(id: string): Promise<BacktestSnapshot | undefined>;
  cancel(id: string): Promise<CancelOutcome>;
  heatmap(id: string, query: HeatmapQuery): Promise<HeatmapOutcome>;
  close(): Promise<void>;
}

/**
 * The backtest job layer with sweeps added to its snapshot lookup, for the `/backtest` hub: a
 * client subscribes to a sweep exactly as to a backtest.
 */
export function withSweepSnapshots(backtests: BacktestJobs, sweeps: SweepJobs): BacktestJobs {
  return {
    submit: (request) => backtests.submit(request),
    snapshot: async (id) => (await backtests.snapshot(id)) ?? (await sweeps.snapshot(id)),
    request: (id) => backtests.request(id),
    cancel: (id) => backtests.cancel(id),
    readiness: () => backtests.readiness(),
    close: () => backtests.close(),
  };
}
