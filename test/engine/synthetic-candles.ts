import { type Candles, allocateCandles } from "../../src/data/candles";

const HOUR_MS = 3_600_000;

/**
 * Builds hourly candles whose close follows a slow sine wave around 100, so that a fast/slow SMA pair
 * crosses every few dozen bars. Open is the previous close; high and low bracket both.
 */
export function sineCandles(length: number, periodBars = 120): Candles {
  const candles = allocateCandles(length);
  const start = Date.UTC(2024, 0, 1);
  let previous = 100;
  for (let i = 0; i < length; i++) {
    const close = 100 + 20 * Math.sin((2 * Math.PI * i) / periodBars) + 5 * Math.sin(i / 7);
    candles.time[i] = start + i * HOUR_MS;
    candles.open[i] = previous;
    candles.close[i] = close;
    candles.high[i] = Math.max(previous, close) + 0.5;
    candles.low[i] = Math.min(previous, close) - 0.5;
    candles.volume[i] = 1;
    previous = close;
  }
  return candles;
}

/** Builds candles from rows of [open, high, low, close], one day apart from 2024-01-01. */
export function dailyCandles(rows: ReadonlyArray<readonly [number, number, number, number]>): Candles {
  const candles = allocateCandles(rows.length);
  rows.forEach(([open, high, low, close], i) => {
    candles.time[i] = Date.UTC(2024, 0, 1 + i);
    candles.open[i] = open;
    candles.high[i] = high;
    candles.low[i] = low;
    candles.close[i] = close;
    candles.volume[i] = 0;
  });
  return candles;
}
