import type { Candles } from "../data/candles";
import { EngineInputError } from "./errors";

/** One tunable number of a strategy, as listed to clients and checked before a run. */
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

/** Orders fill at the next bar's open (see `Broker.processOrders`). */
export interface StrategyContext {
  /** Index of the bar whose close the strategy is looking at. */
  readonly bar: number;
  /** Signed units held across open trades: positive long, negative short, 0 flat. */
  readonly position: number;
  /** Cash plus open trades marked to this bar's close. */
  readonly equity: number;
  /**
   * Queues a long market order. A size in (0, 1) is a fraction of the available margin, a size
   * of 1 or more is units (whole units unless the broker is fractional). Default: all equity.
   */
  buy(size?: number): void;
  /** Queues a short market order, sized as `buy`. */
  sell(size?: number): void;
  /** Closes every open trade, ahead of any order queued on this bar. */
  close(): void;
}

/** A strategy prepared for one run, holding its indicators. */
export interface StrategyInstance {
  /**
   * Indicator arrays computed up front, each as long as the candles, NaN during warm-up. Trading
   * starts on the bar after the latest first valid value across them.
   */
  readonly indicators: Readonly<Record<string, Float64Array>>;
  /** Decides orders at the close of bar `context.bar`. */
  next(context: StrategyContext): void;
}

/** A strategy as registered: its parameters, their validation and a factory for runs. */
export interface Strategy<P = StrategyParams> {
  readonly name: string;
  readonly description: string;
  readonly params: readonly ParamSpec[];
  /**
   * Validates raw request parameters, fills defaults and returns typed values. Throws
   * `EngineInputError` naming `params.<name>`. `bars` is the candle count when known, for
   * checks such as "the slow average needs more bars than the dataset has".
   */
  parseParams(raw: Record<string, unknown>, bars?: number): P;
  /** Computes the indicators over the candles, with parameters from `parseParams`. */
  init(candles: Candles, params: P): StrategyInstance;
}

/**
 * Checks raw parameters against their specs: rejects unknown names, non-numbers, fractions where
 * integers are expected and values out of range, and fills defaults.
 */
export function validateParams(
  strategy: string,
  specs: readonly ParamSpec[],
  raw: Record<string, unknown>,
): StrategyParams {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new EngineInputError(
      "params",
      `Invalid params ${JSON.stringify(raw)} for strategy "${strategy}": expected an object such as {}`,
    );
  }

  const known = new Set(specs.map((spec) => spec.name));
  for (const name of Object.keys(raw)) {
    if (!known.has(name)) {
      throw new EngineInputError(
        `params.${name}`,
        `Unknown parameter "${name}" for strategy "${strategy}": expected ${[...known].join(", ")}`,
      );
    }
  }

  const values: Record<string, number> = {};
  for (const spec of specs) {
    values[spec.name] = checkParam(strategy, spec, raw[spec.name]);
  }
  return values;
}

function checkParam(strategy: string, spec: ParamSpec, value: unknown): number {
  const field = `params.${spec.name}`;
  if (value === undefined) return spec.default;

  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new EngineInputError(
      field,
      `Invalid ${spec.name} ${JSON.stringify(value)} for strategy "${strategy}": expected a finite number`,
    );
  }
  if (spec.kind === "integer" && !Number.isInteger(value)) {
    throw new EngineInputError(field, `Invalid ${spec.name} ${value} for strategy "${strategy}": expected an integer`);
  }
  if (spec.min !== undefined && value < spec.min) {
    throw new EngineInputError(
      field,
      `Invalid ${spec.name} ${value} for strategy "${strategy}": expected at least ${spec.min}`,
    );
  }
  if (spec.max !== undefined && value > spec.max) {
    throw new EngineInputError(
      field,
      `Invalid ${spec.name} ${value} for strategy "${strategy}": expected at most ${spec.max}`,
    );
  }
  return value;
}
