import type { Candles } from "../data/candles";
import { BarContext } from "./bar-context";
import { Broker, type OpenTrade } from "./broker";
import type { BrokerOptions } from "./broker-options";
import { EngineInputError } from "./errors";
import { firstValidIndex } from "./indicators/index";
import type { StrategyInstance } from "./strategy";
import { TradeLog } from "./trade-log";

/** Output of a finished simulation, the input of the statistics. */
export interface SimulationOutput {
  /** Equity at every bar, back-filled with the starting cash before trading starts. */
  equity: Float64Array;
  /** Closed trades in closing order. Trades left open are not included. */
  trades: TradeLog;
  /** Trades still open after the last bar; empty when `closeAtEnd` closed them. */
  openTrades: OpenTrade[];
  /** Index of the latest first valid indicator value; buy and hold is measured from its close. */
  warmup: number;
}

/** Arrays a caller may hand in for reuse across runs over the same candles, such as the combinations of a sweep. */
export interface SimulationBuffers {
  /** As long as the candles; overwritten. */
  equity?: Float64Array;
  /** Reset before use. */
  trades?: TradeLog;
}

/**
 * The synchronous core of a backtest, advanced in chunks of bars by the run driver. Bar i is
 * processed in three steps, as backtesting.py 0.6.6 does:
 * 1. the broker fills pending orders at the open of bar i;
 * 2. equity[i] is recorded, marked to the close of bar i;
 * 3. the strategy reads data up to the close of bar i and may queue orders.
 * With `fill: "close"`, step 1 moves after step 3: orders fill at the close of the bar that
 * placed them, and equity[i] is recorded again after the fills.
 */
export class Simulation {
  readonly total: number;
  private readonly broker: Broker;
  private readonly context: BarContext;
  private readonly equity: Float64Array;
  private readonly start: number;
  private readonly warmup: number;
  private readonly fillAtClose: boolean;
  private nextBar = 0;
  private outOfMoney = false;

  constructor(
    private readonly candles: Candles,
    private readonly strategy: StrategyInstance,
    private readonly options: BrokerOptions,
    buffers: SimulationBuffers = {},
  ) {
    this.total = candles.length;
    const trades = buffers.trades ?? new TradeLog();
    trades.reset();
    this.broker = new Broker(options, trades);
    this.context = new BarContext(this.broker, options);
    this.equity = buffers.equity ?? new Float64Array(candles.length);
    this.equity.fill(NaN);
    this.warmup = Object.values(strategy.indicators).reduce(
      (latest, values) => Math.max(latest, firstValidIndex(values)),
      0,
    );
    this.start = startBarOf(strategy, this.warmup);
    this.fillAtClose = options.fill === "close";
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
    const { broker, context, strategy, equity, fillAtClose } = this;
    const { open, close } = this.candles;

    for (let bar = Math.max(this.nextBar, this.start); bar < end; bar++) {
      const price = close[bar] as number;
      if (!fillAtClose && broker.pendingOrders > 0) broker.processOrders(bar, open[bar] as number, price);

      const value = broker.markToMarket(price);
      equity[bar] = value;
      if (!(value > 0)) {
        this.stopOutOfMoney(bar);
        return;
      }

      context.bar = bar;
      context.equity = value;
      strategy.next(context);

      if (fillAtClose && broker.pendingOrders > 0) {
        broker.processOrders(bar, price, price);
        equity[bar] = broker.markToMarket(price);
      }
    }
    this.nextBar = Math.max(this.nextBar, end);
  }

  /**
   * Ends the run after the last bar. With `closeAtEnd`, the queue is processed once more on the
   * last bar with a close order for every open trade at its front, at that bar's open (or close
   * with `fill: "close"`), and that bar's equity is recorded again. Without it, pending orders
   * are dropped unfilled and open trades stay open, marked to the last close.
   */
  finish(): SimulationOutput {
    if (!this.done) throw new Error(`Simulation finished early: ${this.nextBar} of ${this.total} bars processed`);

    const last = this.total - 1;
    if (this.options.closeAtEnd && !this.outOfMoney && this.start <= last) {
      this.broker.closeAllInOrder();
      const price = this.fillAtClose ? (this.candles.close[last] as number) : (this.candles.open[last] as number);
      this.broker.processOrders(last, price, this.candles.close[last] as number);
      const value = this.broker.equityAt(this.candles.close[last] as number);
      this.equity[last] = value;
      if (!(value > 0)) this.stopOutOfMoney(last);
    }
    this.broker.cancelOrders();

    backFill(this.equity, this.options.cash);
    return {
      equity: this.equity,
      trades: this.broker.closedTrades,
      openTrades: this.broker.trades.map((trade) => ({ ...trade })),
      warmup: this.warmup,
    };
  }

  /** Closes everything at this bar's close and zeroes equity from here on (backtesting.py's out-of-money rule). */
  private stopOutOfMoney(bar: number): void {
    this.broker.liquidate(bar, this.candles.close[bar] as number);
    this.equity.fill(0, bar);
    this.outOfMoney = true;
    this.nextBar = this.total;
  }
}

function startBarOf(strategy: StrategyInstance, warmup: number): number {
  const startBar = strategy.startBar ?? warmup + 1;
  if (!Number.isInteger(startBar) || startBar < 0) {
    throw new EngineInputError(
      "strategy",
      `Invalid startBar ${startBar} from the strategy: expected an integer of at least 0`,
    );
  }
  return startBar;
}

/** Fills NaN bars before the first recorded one with that value, or with `cash` if none was recorded. */
function backFill(equity: Float64Array, cash: number): void {
  let first = equity.findIndex((value) => !Number.isNaN(value));
  const value = first === -1 ? cash : (equity[first] as number);
  if (first === -1) first = equity.length;
  equity.fill(value, 0, first);
}
