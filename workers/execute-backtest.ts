import { loadCandles } from "../src/data/datasets";
import { runBacktest } from "../src/engine/run";
import type { BacktestResult } from "../src/hubs/backtest-events";
import { type BacktestRequest, brokerOptionsOf } from "../src/queues/backtest-request";

export interface ExecutionHooks {
  /** Called at most about ten times a second, and always once with processed === total. */
  progress(processed: number, total: number): void;
  isCancelled(): boolean;
}

export type ExecutionOutcome = { status: "completed"; total: number; result: BacktestResult } | { status: "cancelled" };

/**
 * Runs one backtest request: the same steps in a BullMQ job process and in a worker thread of
 * single-host mode. Input errors throw the engine's `EngineInputError`.
 */
export async function executeBacktest(request: BacktestRequest, hooks: ExecutionHooks): Promise<ExecutionOutcome> {
  const candles = await loadCandles(request.dataset, request.resample);
  const total = candles.length;
  hooks.progress(0, total);

  const outcome = await runBacktest(
    {
      candles,
      strategy: request.strategy,
      params: request.params,
      broker: brokerOptionsOf(request),
    },
    {
      onProgress: (processed, all) => hooks.progress(processed, all),
      isCancelled: () => hooks.isCancelled(),
      ...(request.barsPerSecond === undefined ? {} : { barsPerSecond: request.barsPerSecond }),
    },
  );

  if (outcome.status === "cancelled") return { status: "cancelled" };
  return { status: "completed", total, result: outcome.result };
}
