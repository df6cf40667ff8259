import type { Candles } from "../data/candles";
import { EngineInputError } from "./errors";

/**
 * Broker settings of a run. The fill rules follow backtesting.py 0.6.6 with `spread=0`,
 * `margin=1`, `trade_on_close=False`, `hedging=False` and `exclusive_orders=False`.
 */
export interface BrokerOptions {
  /** Starting cash. Default 10,000. */
  cash: number;
  /** Fee per fill as a fraction of the traded value, charged on entry and again on exit. Default 0. */
  commission: number;
  /** Size orders in fractional units instead of whole units. Default false. */
  fractional: boolean;
  /** Close the trades still open after the last bar at that bar's open, so they count in the statistics. Default true. */
  closeAtEnd: boolean;
}

export const DEFAULT_BROKER_OPTIONS: Readonly<BrokerOptions> = {
  cash: 10_000,
  commission: 0,
  fractional: false,
  closeAtEnd: true,
};

/** Largest fee accepted, as a fraction. A value above 10% per fill is more likely a percentage typed where a fraction belongs. */
const MAX_COMMISSION = 0.1;

/** Applies defaults to missing or undefined fields and validates the rest. Throws `EngineInputError` on `broker.<field>`. */
export function resolveBrokerOptions(options: Partial<BrokerOptions> = {}): BrokerOptions {
  const resolved: BrokerOptions = {
    cash: options.cash ?? DEFAULT_BROKER_OPTIONS.cash,
    commission: options.commission ?? DEFAULT_BROKER_OPTIONS.commission,
    fractional: options.fractional ?? DEFAULT_BROKER_OPTIONS.fractional,
    closeAtEnd: options.closeAtEnd ?? DEFAULT_BROKER_OPTIONS.closeAtEnd,
  };

  if (typeof resolved.cash !== "number" || !Number.isFinite(resolved.cash) || resolved.cash <= 0) {
    throw new EngineInputError(
      "broker.cash",
      `Invalid cash ${String(resolved.cash)}: expected a positive finite number`,
    );
  }
  const commission = resolved.commission;
  if (typeof commission !== "number" || !(commission >= 0 && commission <= MAX_COMMISSION)) {
    throw new EngineInputError(
      "broker.commission",
      `Invalid commission ${String(commission)}: expected a fraction from 0 to ${MAX_COMMISSION}, such as 0.002 for 0.2%`,
    );
  }
  for (const flag of ["fractional", "closeAtEnd"] as const) {
    if (typeof resolved[flag] !== "boolean") {
      throw new EngineInputError(`broker.${flag}`, `Invalid ${flag} ${String(resolved[flag])}: expected true or false`);
    }
  }
  return resolved;
}

/** A position opened by one fill. `size` is signed units and shrinks when part of the trade closes. */
export interface OpenTrade {
  size: number;
  entryPrice: number;
  entryBar: number;
}

export interface ClosedTrade {
  size: number;
  entryPrice: number;
  entryBar: number;
  exitPrice: number;
  exitBar: number;
  /** Entry and exit fees of the closed units. */
  fees: number;
}

/** A pending market order. `parent` marks an order that closes (part of) that trade. */
interface Order {
  size: number;
  parent?: OpenTrade;
}

/**
 * Simulated account: queues market orders, fills them at the next bar's open and keeps cash, open
 * trades and closed trades. Close orders go to the front of the queue and new orders to the back,
 * so a reversal closes first and then sizes the new trade from the freed cash.
 */
export class Broker {
  cash: number;
  readonly trades: OpenTrade[] = [];
  readonly closedTrades: ClosedTrade[] = [];
  private readonly orders: Order[] = [];

  constructor(
    private readonly candles: Candles,
    private readonly options: BrokerOptions,
  ) {
    this.cash = options.cash;
  }

  /** Signed units held over all open trades. */
  position(): number {
    let size = 0;
    for (const trade of this.trades) size += trade.size;
    return size;
  }

  /** Cash plus the open trades marked to the close of `bar`. */
  equity(bar: number): number {
    const price = this.candles.close[bar] as number;
    let openProfit = 0;
    for (const trade of this.trades) openProfit += trade.size * (price - trade.entryPrice);
    return this.cash + openProfit;
  }

  /**
   * Equity not tied up in open trades, valued at the close of `bar`. backtesting.py uses the
   * close even while it fills at the open, which matters only when adding to an open position.
   */
  marginAvailable(bar: number): number {
    const price = this.candles.close[bar] as number;
    let marginUsed = 0;
    for (const trade of this.trades) marginUsed += Math.abs(trade.size) * price;
    return Math.max(0, this.equity(bar) - marginUsed);
  }

  /** Queues a new order at the back. `size` is signed: in (-1, 1) a fraction of margin, else units. */
  placeOrder(size: number): void {
    const valid = this.options.fractional
      ? size !== 0
      : (size > -1 && size < 1 && size !== 0) || Number.isInteger(size);
    if (!valid || !Number.isFinite(size)) {
      throw new RangeError(
        `Invalid order size ${size}: use a fraction of equity in (0, 1) or ${this.options.fractional ? "units" : "whole units"}`,
      );
    }
    this.orders.push({ size });
  }

  /** Queues the close of one trade at the front of the queue. */
  closeTrade(trade: OpenTrade): void {
    this.orders.unshift({ size: -trade.size, parent: trade });
  }

  /** Queues the close of every open trade. Like backtesting.py's `position.close()`, the last trade ends up first. */
  closePosition(): void {
    for (const trade of this.trades) this.closeTrade(trade);
  }

  /** Queues the close of every open trade in opening order, as backtesting.py does after the last bar. */
  closeAllInOrder(): void {
    for (let k = this.trades.length - 1; k >= 0; k--) this.closeTrade(this.trades[k] as OpenTrade);
  }

  /** Fills the queued orders at the open of `bar`, in queue order. */
  processOrders(bar: number): void {
    const price = this.candles.open[bar] as number;

    for (const order of [...this.orders]) {
      this.removeOrder(order);
      if (order.parent !== undefined) {
        this.fillCloseOrder(order.parent, order.size, price, bar);
      } else {
        this.fillNewOrder(order.size, price, bar);
      }
    }
  }

  /**
   * Closes every open trade at the close of `bar` and zeroes the cash: the run stops here because
   * equity is gone (backtesting.py's out-of-money rule).
   */
  liquidate(bar: number): void {
    const price = this.candles.close[bar] as number;
    for (const trade of [...this.trades]) this.closeWhole(trade, price, bar);
    this.cash = 0;
  }

  private removeOrder(order: Order): void {
    const index = this.orders.indexOf(order);
    if (index !== -1) this.orders.splice(index, 1);
  }

  private fillCloseOrder(trade: OpenTrade, orderSize: number, price: number, bar: number): void {
    // A trade already closed by an earlier order of this bar has nothing left to close.
    if (!this.trades.includes(trade)) return;

    const size = Math.sign(orderSize) * Math.min(Math.abs(trade.size), Math.abs(orderSize));
    this.reduceTrade(trade, size, price, bar);
  }

  private fillNewOrder(orderSize: number, price: number, bar: number): void {
    const entryPrice = this.adjustedPrice(orderSize, price);
    const pricePlusFee = entryPrice + this.fee(orderSize, price) / Math.abs(orderSize);

    // A proportional order becomes units now, from the margin available at this bar.
    let size = orderSize;
    if (size > -1 && size < 1) {
      const budget = this.marginAvailable(bar) * Math.abs(size);
      const units = this.options.fractional ? budget / pricePlusFee : pythonFloorDivide(budget, pricePlusFee);
      if (units === 0) return;
      size = Math.sign(size) * units;
    }

    // Without hedging, an order first closes opposite trades, oldest first.
    let remaining = size;
    for (const trade of [...this.trades]) {
      if (Math.sign(trade.size) === Math.sign(size)) continue;
      if (Math.abs(remaining) >= Math.abs(trade.size)) {
        this.closeWhole(trade, price, bar);
        remaining += trade.size;
      } else {
        this.reduceTrade(trade, remaining, price, bar);
        remaining = 0;
      }
      if (remaining === 0) break;
    }

    // The broker cancels what the margin cannot cover.
    if (Math.abs(remaining) * pricePlusFee > this.marginAvailable(bar) * this.marginSlack()) return;
    if (remaining !== 0) this.openTrade(remaining, entryPrice, bar);
  }

  /** Closes `size` units (opposite in sign to the trade) of `trade`, splitting it when that is only part. */
  private reduceTrade(trade: OpenTrade, size: number, price: number, bar: number): void {
    const left = trade.size + size;
    if (left === 0) {
      this.closeWhole(trade, price, bar);
      return;
    }

    trade.size = left;
    const part: OpenTrade = { size: -size, entryPrice: trade.entryPrice, entryBar: trade.entryBar };
    this.trades.push(part);
    this.closeWhole(part, price, bar);
  }

  private closeWhole(trade: OpenTrade, price: number, bar: number): void {
    this.trades.splice(this.trades.indexOf(trade), 1);

    const exitFee = this.fee(trade.size, price);
    const entryFee = this.fee(trade.size, trade.entryPrice);
    this.cash -= exitFee;
    this.cash += trade.size * (price - trade.entryPrice);
    this.closedTrades.push({
      size: trade.size,
      entryPrice: trade.entryPrice,
      entryBar: trade.entryBar,
      exitPrice: price,
      exitBar: bar,
      fees: entryFee + exitFee,
    });
  }

  private openTrade(size: number, entryPrice: number, bar: number): void {
    this.trades.push({ size, entryPrice, entryBar: bar });
    this.cash -= this.fee(size, entryPrice);
  }

  /** Entry price after spread. NOTE: there is no spread option yet, so this is the raw price. */
  private adjustedPrice(_size: number, price: number): number {
    return price;
  }

  private fee(size: number, price: number): number {
    return Math.abs(size) * price * this.options.commission;
  }

  /**
   * Factor on the margin for the cover check. Fractional sizes are computed by a division and can
   * overshoot the margin by an ulp or two, which must not cancel the order.
   */
  private marginSlack(): number {
    return this.options.fractional ? 1 + 1e-12 : 1;
  }
}

/**
 * Python's float floor division `a // b` for b > 0. It floors the exact quotient, where
 * `Math.floor(a / b)` floors the rounded one and can come out 1 higher when a / b rounds up to an
 * integer. Sizes must match backtesting.py unit for unit.
 */
export function pythonFloorDivide(a: number, b: number): number {
  const remainder = a % b;
  let quotient = (a - remainder) / b;
  if (remainder !== 0 && remainder < 0 !== b < 0) quotient -= 1;
  if (quotient === 0) return 0;

  let floored = Math.floor(quotient);
  if (quotient - floored > 0.5) floored += 1;
  return floored;
}
