/**
 * Benchmark of the engine's indicators against @ixjb94/indicators (a pure-JS port of Tulip
 * Indicators, its `IndicatorsSync` class) on the same closes. The two differ in conventions: the
 * library returns shorter arrays without the warm-up, seeds its EMA with the first value, and sums
 * squares for the standard deviation. Only speed is compared here; the engine's values are tested
 * against definitions in test/engine/indicators.test.ts.
 */
import { IndicatorsSync } from "@ixjb94/indicators";

import { bollinger, ema, macd, rsi, sma, stddev } from "../../src/engine";
import { median, round } from "./measure";

export interface IndicatorComparison {
  indicator: string;
  engineMs: number;
  libraryMs: number;
  faster: "engine" | "library";
}

export interface IndicatorReport {
  library: string;
  values: number;
  runs: number;
  results: IndicatorComparison[];
}

export function benchmarkIndicators(closes: Float64Array, runs: number, libraryVersion: string): IndicatorReport {
  const library = new IndicatorsSync();
  // The library takes plain arrays: the conversion is done once, outside the timings.
  const plain = Array.from(closes);

  const cases: Array<[string, () => unknown, () => unknown]> = [
    ["SMA(30)", () => sma(closes, 30), () => library.sma(plain, 30)],
    ["EMA(30)", () => ema(closes, 30), () => library.ema(plain, 30)],
    ["RSI(14)", () => rsi(closes, 14), () => library.rsi(plain, 14)],
    ["MACD(12,26,9)", () => macd(closes, 12, 26, 9), () => library.macd(plain, 12, 26, 9)],
    ["Bollinger(20,2)", () => bollinger(closes, 20, 2), () => library.bbands(plain, 20, 2)],
    ["StdDev(20)", () => stddev(closes, 20), () => library.stddev(plain, 20)],
  ];

  const results = cases.map(([indicator, engine, other]) => {
    const engineMs = medianMs(engine, runs);
    const libraryMs = medianMs(other, runs);
    return {
      indicator,
      engineMs: round(engineMs),
      libraryMs: round(libraryMs),
      faster: engineMs <= libraryMs ? ("engine" as const) : ("library" as const),
    };
  });
  return { library: `@ixjb94/indicators ${libraryVersion}`, values: closes.length, runs, results };
}

/** Median wall time of `runs` calls after three warm-up calls, in ms. */
function medianMs(action: () => unknown, runs: number): number {
  for (let k = 0; k < 3; k++) action();
  const times: number[] = [];
  for (let k = 0; k < runs; k++) {
    const started = performance.now();
    action();
    times.push(performance.now() - started);
  }
  return median(times);
}
