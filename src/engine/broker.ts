import type { BrokerOptions } from "./broker-options";
import { TradeLog } from "./trade-log";

/** A position opened by one fill. `size` is signed units and shrinks when part of the trade closes. */
export interface OpenTrade {
  size: number;
  /** Fill price of the entry, spread included. */
  entryPrice: number;
  entryBar: number;
}

/** A pending market order. */
export interface Order {
  /** Signed size: units, or with `fraction` a share of the available margin in (-1, 1). */
  size: number;
  fraction: boolean;
  /** The trade that this order closes (part of); undefined for a new order. */
  parent: OpenTrade | undefined;
}

/** Default order size: all available margin, one ulp below 1 as backtesting.py's `_FULL_EQUITY`. */
export const FULL_EQUITY = 1 - 2 ** -52;

/**
 * Simulated account: queues market orders, fills them at the price the simulation passes in,
 * and keeps cash, open trades and closed trades. The rules are backtesting.py 0.6.6's. Close
 * orders go to the front of the queue and new orders to the back, so a reversal closes first and
 * then sizes the new trade from the freed cash. A new order first closes opposite trades, oldest
 * first. The broker cancels what the margin cannot cover.
 *
 * `cash` is backtesting.py's: it changes by realised profit and fees only, so equity is cash
 * plus the open profit. backtrader's cash, which pays for the units held, is equity minus
 * position × price.
 */
export class Broker {
  // Numeric fields get a number initializer: a field declared without one starts as undefined,
  // V8 then stores it as a tagged pointer, and each double written or read in the bar loop is
  // boxed into a new heap object.
  cash = 0;
  readonly trades: OpenTrade[] = [];
  /** Signed units held over all open trades; updated after every batch of fills. */
  position = 0;
  /** Entry bar of the oldest open trade, -1 when flat. */
  entryBar = -1;
  /** Size-weighted average entry price of the open trades, NaN when flat. */
  entryPrice = NaN;
  /**
   * Pending close orders in slots [0, closeCount), the last one queued filled first, and new
   * orders in [0, newCount), filled in the order placed after them. The slots are reused from
   * batch to batch, so a run of 20,000 trades allocates no order objects once warmed up.
   */
  private readonly closeOrders: Order[] = [];
  private readonly newOrders: Order[] = [];
  private closeCount = 0;
  private newCount = 0;
  /** Size and entry price of the only open trade, valid between batches while exactly one is open. */
  private readonly soleTrade = new Float64Array(2);
  /**
   * Trade objects closed in the current batch, and those free for reuse. A closed trade goes to
   * the free list only after its batch, when no pending close order can refer to it any more, so
   * a run allocates trade objects only up to the most trades open at once.
   */
  private readonly closedInBatch: OpenTrade[] = [];
  private readonly spareTrades: OpenTrade[] = [];
  private readonly fixedFee: number = 0;
  private readonly feeRate: number = 0;
  private readonly feePerUnit: number = 0;

  constructor(
    private readonly options: BrokerOptions,
    readonly closedTrades: TradeLog = new TradeLog(),
  ) {
    this.cash = options.cash;
    this.fixedFee = options.commission.fixed;
    this.feeRate = options.commission.rate;
    this.feePerUnit = options.commission.perUnit;
  }

  get pendingOrders(): number {
    return this.closeCount + this.newCount;
  }

  /**
   * `equityAt` for the simulation's bar loop, valid only between batches of fills: with a single
   * open trade, the commonest case, it reads that trade from a typed array instead of looping.
   * Both give the same value: cash + size × (price - entry price).
   */
  markToMarket(price: number): number {
    const open = this.trades.length;
    if (open === 0) return this.cash;
    if (open === 1) return this.cash + (this.soleTrade[0] as number) * (price - (this.soleTrade[1] as number));
    return this.equityAt(price);
  }

  /** Cash plus the open trades marked to `price`. */
  equityAt(price: number): number {
    const trades = this.trades;
    if (trades.length === 0) return this.cash;

    let openProfit = 0;
    for (let k = 0; k < trades.length; k++) {
      const trade = trades[k] as OpenTrade;
      openProfit += trade.size * (price - trade.entryPrice);
    }
    return this.cash + openProfit;
  }

  /**
   * Equity not tied up in open trades, valued at `price`. backtesting.py values it at the bar's
   * close even while it fills at the open, which matters only when adding to an open position.
   */
  marginAvailable(price: number): number {
    let marginUsed = 0;
    for (const trade of this.trades) marginUsed += Math.abs(trade.size) * price;
    return Math.max(0, this.equityAt(price) - marginUsed);
  }

  /** Queues a new order at the back. The caller has validated `size`. */
  placeOrder(size: number, fraction: boolean): void {
    setOrder(slot(this.newOrders, this.newCount++), size, fraction, undefined);
  }

  /** Queues the close of one trade at the front of the queue. */
  closeTrade(trade: OpenTrade): void {
    setOrder(slot(this.closeOrders, this.closeCount++), -trade.size, false, trade);
  }

  /** Queues the close of every open trade. Like backtesting.py's `position.close()`, the last trade ends up first. */
  closePosition(): void {
    for (const trade of this.trades) this.closeTrade(trade);
  }

  /** Queues the close of every open trade in opening order, as backtesting.py does after the last bar. */
  closeAllInOrder(): void {
    for (let k = this.trades.length - 1; k >= 0; k--) this.closeTrade(this.trades[k] as OpenTrade);
  }

  /**
   * Fills every queued order at `price`, in queue order, as trades of `bar`. Proportional sizes
   * and the margin check use `markPrice`, the close of the bar.
   */
  processOrders(bar: number, price: number, markPrice: number): void {
    if (this.pendingOrders === 0) return;

    // Fills never queue orders, so the queues can be read in place and emptied afterwards.
    for (let k = this.closeCount - 1; k >= 0; k--) {
      const order = this.closeOrders[k] as Order;
      this.fillCloseOrder(order.parent as OpenTrade, order.size, price, bar);
    }
    for (let k = 0; k < this.newCount; k++) this.fillNewOrder(this.newOrders[k] as Order, price, bar, markPrice);

    this.cancelOrders();
    this.recycleClosedTrades();
    this.refreshPosition();
  }

  /** Drops every pending order without filling it. */
  cancelOrders(): void {
    for (let k = 0; k < this.closeCount; k++) (this.closeOrders[k] as Order).parent = undefined;
    this.closeCount = 0;
    this.newCount = 0;
  }

  /**
   * Closes every open trade at `price` and zeroes the cash: the run stops here because equity is
   * gone (backtesting.py's out-of-money rule).
   */
  liquidate(bar: number, price: number): void {
    while (this.trades.length > 0) this.closeWhole(this.trades[0] as OpenTrade, price, bar);
    this.cash = 0;
    this.recycleClosedTrades();
    this.refreshPosition();
  }

  private recycleClosedTrades(): void {
    while (this.closedInBatch.length > 0) this.spareTrades.push(this.closedInBatch.pop() as OpenTrade);
  }

  private newTrade(size: number, entryPrice: number, entryBar: number): OpenTrade {
    const trade = this.spareTrades.pop();
    if (trade === undefined) return { size, entryPrice, entryBar };
    trade.size = size;
    trade.entryPrice = entryPrice;
    trade.entryBar = entryBar;
    return trade;
  }

  private refreshPosition(): void {
    let position = 0;
    let cost = 0;
    for (const trade of this.trades) {
      position += trade.size;
      cost += trade.size * trade.entryPrice;
    }
    this.position = position;
    this.entryBar = this.trades[0]?.entryBar ?? -1;
    this.entryPrice = this.trades.length === 0 ? NaN : cost / position;
    this.soleTrade[0] = this.trades[0]?.size ?? 0;
    this.soleTrade[1] = this.trades[0]?.entryPrice ?? 0;
  }

  private fillCloseOrder(trade: OpenTrade, orderSize: number, price: number, bar: number): void {
    // A trade already closed by an earlier order of this batch has nothing left to close.
    if (!this.trades.includes(trade)) return;

    const size = Math.sign(orderSize) * Math.min(Math.abs(trade.size), Math.abs(orderSize));
    this.reduceTrade(trade, size, price, bar);
  }

  private fillNewOrder(order: Order, price: number, bar: number, markPrice: number): void {
    const entryPrice = this.adjustedPrice(order.size, price);
    const pricePlusFee = entryPrice + this.fee(order.size, price) / Math.abs(order.size);
    const size = this.unitsOf(order, pricePlusFee, markPrice);
    if (size === 0) return;

    // Without hedging, an order first closes opposite trades, oldest first.
    let remaining = size;
    let k = 0;
    while (remaining !== 0 && k < this.trades.length) {
      const trade = this.trades[k] as OpenTrade;
      if (Math.sign(trade.size) === Math.sign(size)) {
        k++;
      } else if (Math.abs(remaining) >= Math.abs(trade.size)) {
        this.closeWhole(trade, price, bar);
        remaining += trade.size;
      } else {
        this.reduceTrade(trade, remaining, price, bar);
        remaining = 0;
      }
    }
    if (remaining === 0 || (remaining < 0 && this.options.direction === "long-only")) return;

    // The broker cancels what the margin cannot cover.
    if (Math.abs(remaining) * pricePlusFee > this.marginAvailable(markPrice) * this.marginSlack()) return;
    this.openTrade(remaining, entryPrice, bar);
  }

  /**
   * Signed units of a new order, 0 to cancel it. A proportional order becomes units now, from the
   * margin available at this bar. Under "long-only" a sell is capped at the long units held, and
   * a proportional sell is that share of them.
   */
  private unitsOf(order: Order, pricePlusFee: number, markPrice: number): number {
    const size = order.size;
    if (size < 0 && this.options.direction === "long-only") {
      // Earlier orders of this batch may have closed trades already, so count the units now.
      let held = 0;
      for (const trade of this.trades) if (trade.size > 0) held += trade.size;
      if (!order.fraction) return -Math.min(-size, held);
      if (-size >= FULL_EQUITY) return -held;
      return -this.roundUnits(-size * held);
    }
    if (!order.fraction) return size;

    const budget = this.marginAvailable(markPrice) * Math.abs(size);
    const units = this.options.fractional ? budget / pricePlusFee : pythonFloorDivide(budget, pricePlusFee);
    return units === 0 ? 0 : Math.sign(size) * units;
  }

  private roundUnits(units: number): number {
    return this.options.fractional ? units : Math.floor(units);
  }

  /** Closes `size` units (opposite in sign to the trade) of `trade`, splitting it when that is only part. */
  private reduceTrade(trade: OpenTrade, size: number, price: number, bar: number): void {
    const left = trade.size + size;
    if (left === 0) {
      this.closeWhole(trade, price, bar);
      return;
    }

    trade.size = left;
    const part = this.newTrade(-size, trade.entryPrice, trade.entryBar);
    this.trades.push(part);
    this.closeWhole(part, price, bar);
  }

  private closeWhole(trade: OpenTrade, price: number, bar: number): void {
    removeItem(this.trades, trade);
    this.closedInBatch.push(trade);

    const exitFee = this.fee(trade.size, price);
    const entryFee = this.fee(trade.size, trade.entryPrice);
    this.cash -= exitFee;
    this.cash += trade.size * (price - trade.entryPrice);
    this.closedTrades.push(trade.size, trade.entryPrice, trade.entryBar, price, bar, entryFee + exitFee);
  }

  private openTrade(size: number, entryPrice: number, bar: number): void {
    this.trades.push(this.newTrade(size, entryPrice, bar));
    this.cash -= this.fee(size, entryPrice);
  }

  /** Entry price after the spread: higher for a buy, lower for a sell. */
  private adjustedPrice(size: number, price: number): number {
    return price * (1 + Math.sign(size) * this.options.spread);
  }

  /** Fee of one fill of `size` units at `price`. The order of the terms keeps a rate-only fee bit-identical to backtesting.py's. */
  private fee(size: number, price: number): number {
    return this.fixedFee + Math.abs(size) * price * this.feeRate + Math.abs(size) * this.feePerUnit;
  }

  /**
   * Factor on the margin for the cover check. Fractional sizes are computed by a division and can
   * overshoot the margin by an ulp or two, which must not cancel the order.
   */
  private marginSlack(): number {
    return this.options.fractional ? 1 + 1e-12 : 1;
  }
}

/** Removes `item` from `items` in place, keeping the order; `splice` would allocate an array per call. */
function removeItem<T>(items: T[], item: T): void {
  const index = items.indexOf(item);
  if (index === -1) return;
  for (let k = index + 1; k < items.length; k++) items[k - 1] = items[k] as T;
  items.pop();
}

/** Returns the order object at `index` of `slots`, creating it the first time. */
function slot(slots: Order[], index: number): Order {
  let order = slots[index];
  if (order === undefined) {
    order = { size: 0, fraction: false, parent: undefined };
    slots.push(order);
  }
  return order;
}

function setOrder(order: Order, size: number, fraction: boolean, parent: OpenTrade | undefined): void {
  order.size = size;
  order.fraction = fraction;
  order.parent = parent;
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
