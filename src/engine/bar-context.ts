import { type Broker, FULL_EQUITY } from "./broker";
import type { BrokerOptions } from "./broker-options";
import type { OrderSize, StrategyContext } from "./strategy";

/**
 * The `StrategyContext` of one run. The simulation writes `bar` and `equity` before each call to
 * `next`; the rest is read from the broker. One instance serves every bar, so a call to `next`
 * allocates nothing unless the strategy places an order.
 */
export class BarContext implements StrategyContext {
  bar = 0;
  equity = 0;
  private readonly defaultSize: number = 0;
  private readonly defaultIsFraction: boolean = false;

  constructor(
    private readonly broker: Broker,
    private readonly options: BrokerOptions,
  ) {
    const sizing = options.sizing;
    this.defaultIsFraction = sizing.type === "equity";
    this.defaultSize = sizing.type === "equity" ? asFraction(sizing.fraction) : sizing.units;
  }

  get position(): number {
    return this.broker.position;
  }

  get entryBar(): number {
    return this.broker.entryBar;
  }

  get entryPrice(): number {
    return this.broker.entryPrice;
  }

  get pendingOrders(): number {
    return this.broker.pendingOrders;
  }

  buy(size?: OrderSize): boolean {
    return this.order(1, size);
  }

  sell(size?: OrderSize): boolean {
    return this.order(-1, size);
  }

  close(): boolean {
    if (this.broker.trades.length === 0 || this.isBlocked()) return false;
    this.broker.closePosition();
    return true;
  }

  private order(sign: 1 | -1, size: OrderSize | undefined): boolean {
    if (this.isBlocked()) return false;

    if (size === undefined) {
      this.broker.placeOrder(sign * this.defaultSize, this.defaultIsFraction);
    } else if (typeof size === "number") {
      const fraction = size > 0 && size < 1;
      if (!fraction) this.checkUnits(size);
      this.broker.placeOrder(sign * size, fraction);
    } else if ("units" in size) {
      this.checkUnits(size.units);
      this.broker.placeOrder(sign * size.units, false);
    } else {
      this.broker.placeOrder(sign * asFraction(size.fraction), true);
    }
    return true;
  }

  private isBlocked(): boolean {
    return this.options.singlePendingOrder && this.broker.pendingOrders > 0;
  }

  private checkUnits(units: unknown): void {
    const whole = this.options.fractional || Number.isInteger(units);
    if (typeof units === "number" && units > 0 && Number.isFinite(units) && whole) return;

    throw new RangeError(
      `Invalid order size ${String(units)} at bar ${this.bar}: use a fraction of equity in (0, 1) or ${this.options.fractional ? "a positive number of units" : "whole units"}`,
    );
  }
}

/** Turns a fraction of margin in (0, 1] into an order size, 1 becoming backtesting.py's `_FULL_EQUITY`. */
function asFraction(fraction: unknown): number {
  if (typeof fraction !== "number" || !(fraction > 0 && fraction <= 1)) {
    throw new RangeError(`Invalid order fraction ${String(fraction)}: expected a number above 0 and at most 1`);
  }
  return fraction === 1 ? FULL_EQUITY : fraction;
}
