/** A trade closed by the broker, as the statistics and the result read it. */
export interface ClosedTrade {
  /** Signed units: positive long, negative short. */
  size: number;
  /** Fill price of the entry, spread included. */
  entryPrice: number;
  entryBar: number;
  exitPrice: number;
  exitBar: number;
  /** Entry and exit fees of the closed units, in cash. */
  fees: number;
}

const INITIAL_CAPACITY = 256;

/**
 * Closed trades stored column by column in growable typed arrays. A sweep closes tens of
 * thousands of trades per combination, and columns cost a few array writes per trade where
 * objects would cost an allocation each. `reset` empties the log for reuse without freeing it.
 */
export class TradeLog {
  length = 0;
  size = new Float64Array(INITIAL_CAPACITY);
  entryPrice = new Float64Array(INITIAL_CAPACITY);
  entryBar = new Int32Array(INITIAL_CAPACITY);
  exitPrice = new Float64Array(INITIAL_CAPACITY);
  exitBar = new Int32Array(INITIAL_CAPACITY);
  fees = new Float64Array(INITIAL_CAPACITY);

  push(size: number, entryPrice: number, entryBar: number, exitPrice: number, exitBar: number, fees: number): void {
    if (this.length === this.size.length) this.grow();

    const k = this.length++;
    this.size[k] = size;
    this.entryPrice[k] = entryPrice;
    this.entryBar[k] = entryBar;
    this.exitPrice[k] = exitPrice;
    this.exitBar[k] = exitBar;
    this.fees[k] = fees;
  }

  reset(): void {
    this.length = 0;
  }

  /** Returns trade `k` as an object; `k` must be below `length`. */
  at(k: number): ClosedTrade {
    return {
      size: this.size[k] as number,
      entryPrice: this.entryPrice[k] as number,
      entryBar: this.entryBar[k] as number,
      exitPrice: this.exitPrice[k] as number,
      exitBar: this.exitBar[k] as number,
      fees: this.fees[k] as number,
    };
  }

  /** Returns every trade as an object, in closing order. */
  toArray(): ClosedTrade[] {
    return Array.from({ length: this.length }, (_, k) => this.at(k));
  }

  /** Return of trade `k` as a fraction, net of its fees (backtesting.py's `ReturnPct`). */
  returnOf(k: number): number {
    const size = this.size[k] as number;
    const entry = this.entryPrice[k] as number;
    const gross = Math.sign(size) * ((this.exitPrice[k] as number) / entry - 1);
    return gross - (this.fees[k] as number) / (Math.abs(size) * entry);
  }

  /** Profit or loss of trade `k` in cash, net of its fees. */
  profitOf(k: number): number {
    const size = this.size[k] as number;
    return size * ((this.exitPrice[k] as number) - (this.entryPrice[k] as number)) - (this.fees[k] as number);
  }

  private grow(): void {
    const capacity = this.size.length * 2;
    this.size = resized(this.size, capacity);
    this.entryPrice = resized(this.entryPrice, capacity);
    this.entryBar = resized(this.entryBar, capacity);
    this.exitPrice = resized(this.exitPrice, capacity);
    this.exitBar = resized(this.exitBar, capacity);
    this.fees = resized(this.fees, capacity);
  }
}

function resized<T extends Float64Array | Int32Array>(array: T, capacity: number): T {
  const copy = new (array.constructor as new (length: number) => T)(capacity);
  copy.set(array);
  return copy;
}
