import { EngineInputError } from "./errors";

/** When a market order fills: at the next bar's open (backtesting.py and backtrader's default) or at the close of the bar that placed it. */
export type FillPrice = "next-open" | "close";

/** Whether `sell` may open short positions ("long-short") or only reduce long ones ("long-only"). */
export type Direction = "long-short" | "long-only";

/**
 * Commission as a request may give it: a fraction of the traded value per fill (0.001 is 0.1%),
 * a fixed amount plus such a fraction per fill, or an amount per unit traded.
 */
export type CommissionInput = number | { fixed?: number; rate?: number } | { perUnit: number };

/** Commission per fill: fixed + rate × |units| × price + perUnit × |units|, in cash. */
export interface Commission {
  fixed: number;
  rate: number;
  perUnit: number;
}

/**
 * Size of the orders that `buy()` and `sell()` place without an explicit size: a fraction of the
 * available margin (equity not tied up in open trades), or a fixed number of units.
 */
export type Sizing = { type: "equity"; fraction: number } | { type: "fixed"; units: number };

/**
 * Broker settings of a run. With the defaults, fills follow backtesting.py 0.6.6 with
 * `margin=1`, `trade_on_close=False`, `hedging=False` and `exclusive_orders=False`.
 */
export interface BrokerOptions {
  /** Starting cash. Default 10,000. */
  cash: number;
  /** Fees charged on every fill, entry and exit. Default none. */
  commission: Commission;
  /**
   * Bid-ask spread as a fraction: a long entry fills at price × (1 + spread), a short entry at
   * price × (1 - spread), and exits at the raw price. Default 0.
   */
  spread: number;
  /** Fill price of market orders. Default "next-open". */
  fill: FillPrice;
  /** Size of `buy()` and `sell()` without a size. Default all of the available margin. */
  sizing: Sizing;
  /** Size orders in fractional units instead of whole units. Default false. */
  fractional: boolean;
  /** Default "long-short". Under "long-only", a sell only closes long units and never opens a short. */
  direction: Direction;
  /**
   * true closes the trades still open after the last bar, at that bar's open ("next-open") or
   * close ("close"), so that they count in the statistics; false leaves them open and marks the
   * final equity to the last close. Default true.
   */
  closeAtEnd: boolean;
  /**
   * Accept an order only while no other order is pending, as backtrader strategies do with
   * `if self.order: return`; a rejected `buy`, `sell` or `close` returns false. Default false.
   */
  singlePendingOrder: boolean;
}

/** Broker options as callers pass them: every field optional, the commission in any of its forms. */
export type BrokerOptionsInput = Partial<Omit<BrokerOptions, "commission">> & { commission?: CommissionInput };

export const DEFAULT_BROKER_OPTIONS: Readonly<BrokerOptions> = Object.freeze({
  cash: 10_000,
  commission: Object.freeze({ fixed: 0, rate: 0, perUnit: 0 }),
  spread: 0,
  fill: "next-open",
  sizing: Object.freeze({ type: "equity", fraction: 1 }),
  fractional: false,
  direction: "long-short",
  closeAtEnd: true,
  singlePendingOrder: false,
});

/** Largest fee rate and spread accepted. A value above 10% is more likely a percentage typed where a fraction belongs. */
export const MAX_FRACTION = 0.1;

const FILL_PRICES: readonly FillPrice[] = ["next-open", "close"];
const DIRECTIONS: readonly Direction[] = ["long-short", "long-only"];

/** Applies defaults to missing or undefined fields and validates the rest. Throws `EngineInputError` on `broker.<field>`. */
export function resolveBrokerOptions(input: BrokerOptionsInput = {}): BrokerOptions {
  const fractional = input.fractional ?? DEFAULT_BROKER_OPTIONS.fractional;
  const options: BrokerOptions = {
    cash: input.cash ?? DEFAULT_BROKER_OPTIONS.cash,
    commission: resolveCommission(input.commission),
    spread: input.spread ?? DEFAULT_BROKER_OPTIONS.spread,
    fill: input.fill ?? DEFAULT_BROKER_OPTIONS.fill,
    sizing: resolveSizing(input.sizing, fractional),
    fractional,
    direction: input.direction ?? DEFAULT_BROKER_OPTIONS.direction,
    closeAtEnd: input.closeAtEnd ?? DEFAULT_BROKER_OPTIONS.closeAtEnd,
    singlePendingOrder: input.singlePendingOrder ?? DEFAULT_BROKER_OPTIONS.singlePendingOrder,
  };

  if (!isPositiveNumber(options.cash)) {
    throw new EngineInputError("broker.cash", `Invalid cash ${show(options.cash)}: expected a positive finite number`);
  }
  checkFraction("broker.spread", "spread", options.spread, "0.0005 for a 0.05% spread");
  checkChoice("broker.fill", "fill", options.fill, FILL_PRICES);
  checkChoice("broker.direction", "direction", options.direction, DIRECTIONS);
  for (const flag of ["fractional", "closeAtEnd", "singlePendingOrder"] as const) {
    if (typeof options[flag] !== "boolean") {
      throw new EngineInputError(`broker.${flag}`, `Invalid ${flag} ${show(options[flag])}: expected true or false`);
    }
  }
  return options;
}

function resolveCommission(input: CommissionInput | undefined): Commission {
  if (input === undefined) return { ...DEFAULT_BROKER_OPTIONS.commission };
  if (typeof input === "number") {
    checkFraction("broker.commission", "commission", input, "0.001 for 0.1% per fill");
    return { fixed: 0, rate: input, perUnit: 0 };
  }
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new EngineInputError(
      "broker.commission",
      `Invalid commission ${show(input)}: expected a fraction such as 0.001, {"fixed":1,"rate":0.001} or {"perUnit":2}`,
    );
  }

  if ("perUnit" in input) {
    const extra = Object.keys(input).filter((key) => key !== "perUnit");
    if (extra.length > 0) {
      throw new EngineInputError(
        "broker.commission",
        `Invalid commission ${show(input)}: {"perUnit":…} cannot be combined with ${extra.join(", ")}`,
      );
    }
    checkAmount("broker.commission.perUnit", "perUnit", input.perUnit);
    return { fixed: 0, rate: 0, perUnit: input.perUnit };
  }

  const fixed = input.fixed ?? 0;
  const rate = input.rate ?? 0;
  checkAmount("broker.commission.fixed", "fixed", fixed);
  checkFraction("broker.commission.rate", "rate", rate, "0.001 for 0.1% per fill");
  return { fixed, rate, perUnit: 0 };
}

function resolveSizing(input: Sizing | undefined, fractional: boolean): Sizing {
  if (input === undefined) return { ...DEFAULT_BROKER_OPTIONS.sizing };
  if (typeof input !== "object" || input === null) return invalidSizing(input);

  if (input.type === "equity") {
    const fraction: unknown = input.fraction;
    if (typeof fraction !== "number" || !(fraction > 0 && fraction <= 1)) {
      throw new EngineInputError(
        "broker.sizing.fraction",
        `Invalid sizing fraction ${show(fraction)}: expected a number above 0 and at most 1, such as 0.5 for half of the available margin`,
      );
    }
    return { type: "equity", fraction };
  }
  if (input.type === "fixed") {
    const units: unknown = input.units;
    if (!isPositiveNumber(units) || (!fractional && !Number.isInteger(units))) {
      throw new EngineInputError(
        "broker.sizing.units",
        `Invalid sizing units ${show(units)}: expected a positive ${fractional ? "number" : "whole number, or set fractional to true"}`,
      );
    }
    return { type: "fixed", units };
  }
  return invalidSizing(input);
}

function invalidSizing(input: unknown): never {
  throw new EngineInputError(
    "broker.sizing",
    `Invalid sizing ${show(input)}: expected {"type":"equity","fraction":1} or {"type":"fixed","units":10}`,
  );
}

function isPositiveNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value) && value > 0;
}

function checkFraction(field: string, name: string, value: unknown, example: string): void {
  if (typeof value !== "number" || !(value >= 0 && value <= MAX_FRACTION)) {
    throw new EngineInputError(
      field,
      `Invalid ${name} ${show(value)}: expected a fraction from 0 to ${MAX_FRACTION}, such as ${example}`,
    );
  }
}

function checkAmount(field: string, name: string, value: unknown): void {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new EngineInputError(field, `Invalid ${name} ${show(value)}: expected an amount of cash of 0 or more`);
  }
}

function checkChoice<T extends string>(field: string, name: string, value: unknown, choices: readonly T[]): void {
  if (!choices.includes(value as T)) {
    throw new EngineInputError(field, `Invalid ${name} ${show(value)}: expected ${choices.map(show).join(" or ")}`);
  }
}

function show(value: unknown): string {
  return typeof value === "number" ? String(value) : (JSON.stringify(value) ?? String(value));
}
