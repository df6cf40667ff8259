/** The backtest engine's public surface. */
export { Simulation, type SimulationOutput } from "./backtest";
export { type BrokerOptions, type ClosedTrade, DEFAULT_BROKER_OPTIONS, resolveBrokerOptions } from "./broker";
export { EngineInputError } from "./errors";
export { crossover, firstValidIndex, sma } from "./indicators";
export {
  type BacktestOutput,
  type EquityCurve,
  MAX_EQUITY_POINTS,
  type TradeRecord,
  buildResult,
  downsampleIndices,
} from "./result";
export {
  type BacktestInput,
  CHUNK_BARS,
  PROGRESS_INTERVAL_MS,
  type PreparedBacktest,
  type RunControl,
  type RunOutcome,
  prepareBacktest,
  runBacktest,
  runBacktestSync,
  validateBacktestInput,
} from "./run";
export { type EngineStats, computeStats } from "./stats";
export { getStrategy, hasStrategy, listStrategies } from "./strategies";
export type { ParamSpec, Strategy, StrategyContext, StrategyInstance, StrategyParams } from "./strategy";
