/**
 * The strategy API. A strategy declares its parameters, validates them, computes its indicators
 * once over the candles, and then decides orders bar by bar through a `StrategyContext`. See
 * docs/strategies.md for a complete example.
 */
import type { Candles } from "../data/candles";
import type { Indicators } from "./indicators/index";

/** One tunable number of a strategy, as listed to clients and checked by `validateParams`. */
export interface ParamSpec {
  name: string;
  kind: "integer" | "number";
  /** Used when the request leaves the parameter out. */
  default: number;
  /** Smallest accepted value, inclusive. */
  min?: number;
  /** Largest accepted value, inclusive. */
  max?: number;
  description: string;
}

/** Parameter values after validation, every declared parameter present. */
export type StrategyParams = Readonly<Record<string, number>>;

/**
 * Size of one order:
 * - a number in (0, 1) is a fraction of the available margin and a number of 1 or more is units
 *   (backtesting.py's rule);
 * - `{ units }` is units, also below 1 when the broker is fractional;
 * - `{ fraction }` is a fraction of the available margin in (0, 1], where 1 means all of it.
 * Units must be whole unless the broker is fractional.
 */
export type OrderSize = number | { units: number } | { fraction: number };

/**
 * What a strategy reads and does at the close of one bar. Orders are market orders: they fill at
 * the next bar's open, or at this bar's close when the broker's `fill` is "close".
 */
export interface StrategyContext {
  /** Index of the bar whose close the strategy is looking at. */
  readonly bar: number;
  /** Signed units held across open trades: positive long, negative short, 0 flat. */
  readonly position: number;
  /** Cash plus open trades marked to this bar's close. */
  readonly equity: number;
  /** Entry bar of the oldest open trade, -1 when flat. */
  readonly entryBar: number;
  /** Size-weighted average entry price of the open trades, NaN when flat. */
  readonly entryPrice: number;
  /** Orders placed and not filled yet. */
  readonly pendingOrders: number;
  /**
   * Queues a long market order of `size`, by default the broker's `sizing`. Returns false when
   * the broker's `singlePendingOrder` rejects it because another order is pending.
   */
  buy(size?: OrderSize): boolean;
  /** Queues a short market order, sized as `buy`. Under "long-only" it only reduces a long position. */
  sell(size?: OrderSize): boolean;
  /**
   * Closes every open trade, ahead of any order queued on this bar. Returns false when there is
   * nothing to close or `singlePendingOrder` rejects it.
   */
  close(): boolean;
}

/** A strategy prepared for one run, holding its indicators. */
export interface StrategyInstance {
  /**
   * Indicator arrays computed up front, each as long as the candles, NaN during warm-up. Buy and
   * hold is measured from the close of the latest first valid value across them.
   */
  readonly indicators: Readonly<Record<string, Float64Array>>;
  /**
   * First bar on which `next` runs. Default: the bar after the latest first valid indicator
   * value, as backtesting.py does, so that `next` can compare the previous bar. A strategy that
   * does not read the previous bar may start on the first valid value, as backtrader does.
   */
  readonly startBar?: number;
  /** Decides orders at the close of bar `context.bar`. Called once per bar, so it should not allocate. */
  next(context: StrategyContext): void;
}

/** A strategy as registered: its parameters, their validation and a factory for runs. */
export interface Strategy<P = StrategyParams> {
  /** Registry name, lower-case words joined by hyphens, such as `sma-cross`. */
  readonly name: string;
  readonly description: string;
  readonly params: readonly ParamSpec[];
  /**
   * Validates request parameters and returns the typed values that `init` receives. `bars` is
   * the candle count when known, for checks such as "the slow average needs more bars than the
   * dataset has". For a registered strategy, `raw` has already been checked against `params`
   * with the defaults filled, and any error thrown becomes an `EngineInputError` (see
   * `registerStrategy`). Otherwise it receives the request's values as they are and should throw
   * `EngineInputError` naming `params.<name>`.
   */
  parseParams(raw: Record<string, unknown>, bars?: number): P;
  /**
   * Computes the indicators over the candles, with parameters from `parseParams`. Take them from
   * `indicators`, which memoises them across the runs of a parameter sweep.
   */
  init(candles: Candles, params: P, indicators: Indicators): StrategyInstance;
}
