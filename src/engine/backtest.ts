import type { Candles } from "../data/candles";
import { Broker, type BrokerOptions, type ClosedTrade } from "./broker";
import { firstValidIndex } from "./indicators";
import type { StrategyContext, StrategyInstance } from "./strategy";

/** Output of a finished simulation, the input of the statistics. */
export interface SimulationOutput {
  /** Equity at every bar, back-filled with the starting cash before trading starts. */
  equity: Float64Array;
  /** Closed trades in closing order. Trades left open are not included. */
  trades: ClosedTrade[];
  /** Index of the latest first valid indicator value; buy and hold is measured from its close. */
  warmup: number;
}

/** Default order size: all available margin, one ulp below 1 as backtesting.py's `_FULL_EQUITY`. */
const FULL_EQUITY = 1 - 2 ** -52;

/**
 * The synchronous core of a backtest, advanced in chunks of bars by the run driver. Bar i is
 * processed in three steps, as backtesting.py 0.6.6 does:
 * 1. the broker fills pending orders at the open of bar i;
 * 2. equity[i] is recorded, marked to the close of bar i;
 * 3. the strategy reads data up to the close of bar i and may queue orders.
 * Trading starts at bar `warmup + 1`, so that every indicator has a value on the previous bar.
 */
export class Simulation {
  readonly total: number;
  private readonly broker: Broker;
  private readonly equity: Float64Array;
  private readonly start: number;
  private readonly warmup: number;
  private readonly context: StrategyContext & { bar: number };
  private nextBar = 0;
  private outOfMoney = false;

  constructor(
    private readonly candles: Candles,
    private readonly strategy: StrategyInstance,
    private readonly options: BrokerOptions,
  ) {
    this.total = candles.length;
    this.broker = new Broker(candles, options);
    this.equity = new Float64Array(candles.length).fill(NaN);
    this.warmup = Math.max(0, ...Object.values(strategy.indicators).map(firstValidIndex));
    this.start = this.warmup + 1;
    this.context = createContext(this.broker);
  }

  /** Bars processed so far, counting the warm-up bars as processed. */
  get processed(): number {
    return this.nextBar;
  }

  get done(): boolean {
    return this.nextBar >= this.total;
  }

  /** Processes bars up to, not including, `endBar`. A run that runs out of money jumps to the end. */
  advance(endBar: number): void {
    const end = Math.min(endBar, this.total);
    for (let bar = Math.max(this.nextBar, this.start); bar < end; bar++) {
      if (!this.stepBroker(bar)) {
        this.outOfMoney = true;
        this.nextBar = this.total;
        return;
      }
      this.context.bar = bar;
      this.strategy.next(this.context);
    }
    this.nextBar = Math.max(this.nextBar, end);
  }

  /**
   * Ends the run after the last bar. With `closeAtEnd`, open trades are closed by processing the
   * queue once more on the last bar, at its open, and that bar's equity is recorded again.
   */
  finish(): SimulationOutput {
    if (!this.done) throw new Error(`Simulation finished early: ${this.nextBar} of ${this.total} bars processed`);

    const last = this.total - 1;
    if (this.options.closeAtEnd && !this.outOfMoney) {
      this.broker.closeAllInOrder();
      if (this.start <= last) this.stepBroker(last);
    }

    backFill(this.equity, this.options.cash);
    return { equity: this.equity, trades: this.broker.closedTrades, warmup: this.warmup };
  }

  /** Fills orders at the open of `bar` and records equity. Returns false when equity is gone. */
  private stepBroker(bar: number): boolean {
    this.broker.processOrders(bar);

    const equity = this.broker.equity(bar);
    this.equity[bar] = equity;
    if (equity > 0) return true;

    this.broker.liquidate(bar);
    this.equity.fill(0, bar);
    return false;
  }
}

function createContext(broker: Broker): StrategyContext & { bar: number } {
  return {
    bar: 0,
    get position() {
      return broker.position();
    },
    get equity() {
      return broker.equity(this.bar);
    },
    buy(size = FULL_EQUITY) {
      checkSize(size);
      broker.placeOrder(size);
    },
    sell(size = FULL_EQUITY) {
      checkSize(size);
      broker.placeOrder(-size);
    },
    close() {
      broker.closePosition();
    },
  };
}

function checkSize(size: number): void {
  if (!(size > 0)) throw new RangeError(`Invalid order size ${size}: expected a positive number`);
}

/** Fills NaN bars before the first recorded one with that value, or with `cash` if none was recorded. */
function backFill(equity: Float64Array, cash: number): void {
  let first = equity.findIndex((value) => !Number.isNaN(value));
  const value = first === -1 ? cash : (equity[first] as number);
  if (first === -1) first = equity.length;
  equity.fill(value, 0, first);
}
