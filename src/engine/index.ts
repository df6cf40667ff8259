/** The backtest engine's public surface. */
export { type OpenTrade } from "./broker";
export {
  type BrokerOptions,
  type BrokerOptionsInput,
  type Commission,
  type CommissionInput,
  DEFAULT_BROKER_OPTIONS,
  type Direction,
  type FillPrice,
  type Sizing,
  resolveBrokerOptions,
} from "./broker-options";
export { EngineInputError } from "./errors";
export {
  type BollingerBands,
  IndicatorCache,
  type IndicatorCacheOptions,
  type Indicators,
  type MacdLines,
  bollinger,
  crossover,
  crossunder,
  ema,
  firstValidIndex,
  macd,
  rsi,
  sma,
  stddev,
  wilderAverage,
} from "./indicators/index";
export { MAX_GRID_COMBINATIONS, type ParamGrid, type ParamRange, expandParamGrid } from "./param-grid";
export { requireBars, requireLess, validateParams } from "./params";
export {
  type BacktestOutput,
  type EquityCurve,
  type FullEquityCurve,
  MAX_EQUITY_POINTS,
  type OpenTradeRecord,
  type TradeRecord,
  buildResult,
  downsampleIndices,
  equityCurveOf,
} from "./result";
export {
  type BacktestInput,
  CHUNK_BARS,
  PROGRESS_INTERVAL_MS,
  type PreparedBacktest,
  type RunControl,
  type RunOutcome,
  fullEquityCurve,
  prepareBacktest,
  runBacktest,
  runBacktestSync,
  validateBacktestInput,
} from "./run";
export { Simulation, type SimulationBuffers, type SimulationOutput } from "./simulation";
export { type EngineStats, type NumericStat, computeStats } from "./stats";
export {
  type StartupLogger,
  StrategyLoadError,
  getStrategy,
  hasStrategy,
  listStrategies,
  loadStrategiesAtStartup,
  loadStrategyDirectory,
  registerStrategy,
} from "./strategies";
export type { OrderSize, ParamSpec, Strategy, StrategyContext, StrategyInstance, StrategyParams } from "./strategy";
export {
  type CombinationEvaluator,
  type CombinationResult,
  type SweepOptions,
  type SweepOutcome,
  createCombinationEvaluator,
  evaluateCombinations,
} from "./sweep";
export { type ClosedTrade, TradeLog } from "./trade-log";
