import { describe, expect, it } from "vitest";

import {
  IndicatorCache,
  bollinger,
  crossover,
  crossunder,
  ema,
  firstValidIndex,
  macd,
  rsi,
  sma,
  stddev,
} from "../../src/engine";
import { sineCandles } from "./synthetic-candles";

const series = (...values: number[]): Float64Array => Float64Array.from(values);

/** Relative closeness for values computed by two different, equally valid operation orders. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-12): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const want = expected[i] as number;
    const got = actual[i] as number;
    if (Number.isNaN(want)) {
      expect(got, `index ${i}`).toBeNaN();
    } else {
      expect(Math.abs(got - want), `index ${i}: got ${got}, expected ${want}`).toBeLessThanOrEqual(
        tolerance * Math.max(1, Math.abs(want)),
      );
    }
  }
}

/**
 * StockCharts' RSI example ("RSI" in its ChartSchool): 33 closes, published with four decimals,
 * and its RSI(14) table rounded to two decimals.
 */
const RSI_CLOSES = series(
  44.3389,
  44.0902,
  44.1497,
  43.6124,
  44.3278,
  44.8264,
  45.0955,
  45.4245,
  45.8433,
  46.0826,
  45.8931,
  46.0328,
  45.614,
  46.282,
  46.282,
  46.0028,
  46.0328,
  46.4116,
  46.2222,
  45.6439,
  46.2122,
  46.2521,
  45.7137,
  46.4515,
  45.7835,
  45.3548,
  44.0288,
  44.1783,
  44.2181,
  44.5672,
  43.4205,
  42.6628,
  43.1314,
);
const RSI_PUBLISHED = [
  70.53, 66.32, 66.55, 69.41, 66.36, 57.97, 62.93, 63.26, 56.06, 62.38, 54.71, 50.42, 39.99, 41.46, 41.87, 45.46, 37.3,
  33.08, 37.77,
];

/** StockCharts' 10-day EMA example: 30 closes, and the first ten published EMA values. */
const EMA_CLOSES = series(
  22.27,
  22.19,
  22.08,
  22.17,
  22.18,
  22.13,
  22.23,
  22.43,
  22.24,
  22.29,
  22.15,
  22.39,
  22.38,
  22.61,
  23.36,
  24.05,
  23.75,
  23.83,
  23.95,
  23.63,
  23.82,
  23.87,
  23.65,
  23.19,
  23.1,
  23.33,
  22.68,
  23.1,
  22.4,
  22.17,
);
const EMA_PUBLISHED = [22.22, 22.21, 22.24, 22.27, 22.33, 22.52, 22.8, 22.97, 23.13, 23.28];

/** EMA straight from its definition: the first value is the mean of the first `period` values. */
function referenceEma(values: ArrayLike<number>, period: number, from = 0): number[] {
  const out: number[] = Array.from({ length: values.length }, () => NaN);
  const alpha = 2 / (period + 1);
  let sum = 0;
  for (let i = from; i < from + period; i++) sum += values[i] as number;
  out[from + period - 1] = sum / period;
  for (let i = from + period; i < values.length; i++) {
    out[i] = alpha * (values[i] as number) + (1 - alpha) * (out[i - 1] as number);
  }
  return out;
}

/** Wilder's RSI straight from its definition, with explicit gain and loss lists. */
function referenceRsi(values: ArrayLike<number>, period: number): number[] {
  const gains: number[] = [];
  const losses: number[] = [];
  for (let i = 1; i < values.length; i++) {
    const change = (values[i] as number) - (values[i - 1] as number);
    gains.push(Math.max(change, 0));
    losses.push(Math.max(-change, 0));
  }
  const out: number[] = Array.from({ length: values.length }, () => NaN);
  let averageGain = gains.slice(0, period).reduce((a, b) => a + b, 0) / period;
  let averageLoss = losses.slice(0, period).reduce((a, b) => a + b, 0) / period;
  out[period] = 100 - 100 / (1 + averageGain / averageLoss);
  for (let i = period + 1; i < values.length; i++) {
    averageGain = (averageGain * (period - 1) + (gains[i - 1] as number)) / period;
    averageLoss = (averageLoss * (period - 1) + (losses[i - 1] as number)) / period;
    out[i] = 100 - 100 / (1 + averageGain / averageLoss);
  }
  return out;
}

describe("sma", () => {
  it("averages hand-computed windows", () => {
    expectClose(sma(series(1, 2, 3, 4, 5), 3), [NaN, NaN, 2, 3, 4], 0);
  });

  it("starts after leading NaN values", () => {
    expectClose(sma(series(NaN, 2, 4, 6), 2), [NaN, NaN, 3, 5], 0);
  });

  it("stays exact over a long series of cent prices", () => {
    // Cent prices around 50,000: exact window sums come from integer cents.
    const cents = Array.from(
      { length: 600_000 },
      (_, i) => 5_000_000 + Math.round(300_000 * Math.sin(i / 977)) + (i % 13),
    );
    const values = Float64Array.from(cents, (value) => value / 100);
    const period = 200;
    const averages = sma(values, period);

    for (const i of [period - 1, 123_456, 599_999]) {
      let windowCents = 0;
      for (let k = i - period + 1; k <= i; k++) windowCents += cents[k] as number;
      const exact = windowCents / 100 / period;
      expect(Math.abs((averages[i] as number) - exact) / exact, `bar ${i}`).toBeLessThan(1e-15);
    }
  });

  it("rejects a period below 1", () => {
    expect(() => sma(series(1, 2), 0)).toThrow(/Invalid SMA period 0/);
  });
});

describe("ema", () => {
  it("matches its definition on StockCharts' example", () => {
    expectClose(ema(EMA_CLOSES, 10), referenceEma(EMA_CLOSES, 10));
  });

  it("rounds to StockCharts' published values", () => {
    const values = Array.from(ema(EMA_CLOSES, 10).subarray(9, 19), (value) => Number(value.toFixed(2)));
    expect(values).toEqual(EMA_PUBLISHED);
  });

  it("is NaN when the series is shorter than the period", () => {
    expect(Array.from(ema(series(1, 2), 3))).toEqual([NaN, NaN]);
  });
});

describe("rsi", () => {
  it("matches Wilder's definition on StockCharts' example", () => {
    expectClose(rsi(RSI_CLOSES, 14), referenceRsi(RSI_CLOSES, 14));
  });

  it("rounds to StockCharts' published values", () => {
    const values = Array.from(rsi(RSI_CLOSES, 14).subarray(14), (value) => Number(value.toFixed(2)));
    expect(values).toEqual(RSI_PUBLISHED);
  });

  it("is 100 without losses and 50 on a flat series", () => {
    expect(rsi(series(1, 2, 3, 4), 2)[3]).toBe(100);
    expect(rsi(series(5, 5, 5, 5), 2)[3]).toBe(50);
  });
});

describe("macd", () => {
  it("matches EMA differences and the signal EMA", () => {
    const values = sineCandles(300).close;
    const lines = macd(values, 12, 26, 9);

    const fast = referenceEma(values, 12);
    const slow = referenceEma(values, 26);
    const line = fast.map((value, i) => value - (slow[i] as number));
    // The MACD line's first value is at bar 25, so its signal EMA starts there.
    const signal = referenceEma(line, 9, 25);
    expectClose(lines.macd, line, 1e-9);
    expectClose(lines.signal, signal, 1e-9);
    expectClose(
      lines.histogram,
      line.map((value, i) => value - (signal[i] as number)),
      1e-9,
    );
    expect(firstValidIndex(lines.signal)).toBe(33);
  });

  it("rejects a fast period not below the slow one", () => {
    expect(() => macd(series(1, 2, 3), 26, 12, 9)).toThrow(/fast period must be less than the slow one/);
  });
});

describe("stddev and bollinger", () => {
  it("computes the population deviation of a textbook series", () => {
    // Mean 5, squared deviations summing to 32 over 8 values: σ = 2.
    expect(stddev(series(2, 4, 4, 4, 5, 5, 7, 9), 8)[7]).toBe(2);
  });

  it("computes rolling population and sample deviations", () => {
    expectClose(stddev(series(1, 2, 3, 4), 3), [NaN, NaN, Math.sqrt(2 / 3), Math.sqrt(2 / 3)]);
    expectClose(stddev(series(1, 2, 3, 4), 3, 1), [NaN, NaN, 1, 1]);
  });

  it("stays accurate over a long series of large prices", () => {
    const values = Float64Array.from({ length: 200_000 }, (_, i) => 60_000 + 500 * Math.sin(i / 300) + (i % 7) * 0.01);
    const deviations = stddev(values, 20);
    for (const i of [19, 1_000, 77_777, 199_999]) {
      let mean = 0;
      for (let k = i - 19; k <= i; k++) mean += values[k] as number;
      mean /= 20;
      let squares = 0;
      for (let k = i - 19; k <= i; k++) squares += ((values[k] as number) - mean) ** 2;
      const exact = Math.sqrt(squares / 20);
      expect(Math.abs((deviations[i] as number) - exact) / exact, `bar ${i}`).toBeLessThan(1e-7);
    }
  });

  it("puts the bands k deviations around the SMA", () => {
    const bands = bollinger(series(1, 2, 3, 4), 3, 2);
    expectClose(bands.middle, [NaN, NaN, 2, 3]);
    expectClose(bands.upper, [NaN, NaN, 2 + 2 * Math.sqrt(2 / 3), 3 + 2 * Math.sqrt(2 / 3)]);
    expectClose(bands.lower, [NaN, NaN, 2 - 2 * Math.sqrt(2 / 3), 3 - 2 * Math.sqrt(2 / 3)]);
  });
});

describe("crossover", () => {
  const a = series(1, 2, 3, 3, 2);
  const b = series(2, 2, 2, 2, 2);

  it("needs a strict cross on both bars", () => {
    // 1 < 2 then 2 = 2: a tie is not a cross; 2 = 2 then 3 > 2 is not one either.
    expect([0, 1, 2, 3, 4].map((i) => crossover(a, b, i))).toEqual([false, false, false, false, false]);
    expect(crossover(series(1, 3), series(2, 2), 1)).toBe(true);
    expect(crossunder(series(3, 1), series(2, 2), 1)).toBe(true);
  });

  it("never crosses on NaN", () => {
    expect(crossover(series(NaN, 3), series(2, 2), 1)).toBe(false);
  });
});

describe("IndicatorCache", () => {
  const candles = sineCandles(1_000);

  it("returns the same array for the same request", () => {
    const cache = new IndicatorCache(candles);
    expect(cache.sma(20)).toBe(cache.sma(20));
    expect(cache.sma(20)).not.toBe(cache.sma(21));
    expect(cache.sma(20, candles.open)).not.toBe(cache.sma(20));
    expect(cache.counters).toMatchObject({ hits: 3, misses: 3 });
  });

  it("computes the same values as the plain functions", () => {
    const cache = new IndicatorCache(candles);
    expect(cache.ema(10)).toEqual(ema(candles.close, 10));
    expect(cache.rsi(14)).toEqual(rsi(candles.close, 14));
    expect(cache.stddev(20)).toEqual(stddev(candles.close, 20));
    expect(cache.macd(12, 26, 9)).toEqual(macd(candles.close, 12, 26, 9));
    expect(cache.bollinger(20, 2)).toEqual(bollinger(candles.close, 20, 2));
  });

  it("shares the EMAs of a MACD", () => {
    const cache = new IndicatorCache(candles);
    cache.ema(12);
    cache.macd(12, 26, 9);
    // macd missed; inside it EMA(12) hit and EMA(26) missed.
    expect(cache.counters).toMatchObject({ hits: 1, misses: 3 });
  });

  it("evicts the least recently used array beyond maxBytes", () => {
    const arrayBytes = candles.length * 8;
    const cache = new IndicatorCache(candles, { maxBytes: 2 * arrayBytes });
    const first = cache.sma(5);
    cache.sma(6);
    cache.sma(5);
    cache.sma(7);

    // SMA(6) was the least recently used, so it went; SMA(5) stayed.
    expect(cache.sma(5)).toBe(first);
    expect(cache.counters.bytes).toBe(2 * arrayBytes);
    const misses = cache.counters.misses;
    cache.sma(6);
    expect(cache.counters.misses).toBe(misses + 1);
  });
});
