import { describe, expect, it } from "vitest";

import { allocateCandles, type Candles } from "../../src/data/candles";
import { loadCandles, loadDataset } from "../../src/data/datasets";
import { formatTimeframe, resampleCandles, resampleProblem, timeframeMs } from "../../src/data/resample";

const HOUR_MS = 3_600_000;
const YEAR_2024_START = Date.UTC(2024, 0, 1);
const YEAR_2025_START = Date.UTC(2025, 0, 1);

function candlesOf(rows: [time: number, open: number, high: number, low: number, close: number, volume: number][]): Candles {
  const candles = allocateCandles(rows.length);
  rows.forEach(([time, open, high, low, close, volume], i) => {
    candles.time[i] = time;
    candles.open[i] = open;
    candles.high[i] = high;
    candles.low[i] = low;
    candles.close[i] = close;
    candles.volume[i] = volume;
  });
  return candles;
}

describe("resampling", () => {
  it("reproduces the hourly BTCUSDT candles of 2024 from the minute candles", async () => {
    const minutes = await loadDataset("btcusdt-1m-2024");
    const hours = await loadDataset("btcusdt-1h");
    const resampled = await loadCandles("btcusdt-1m-2024", "1h");

    const first = hours.time.findIndex((time) => time >= YEAR_2024_START);
    const last = hours.time.findIndex((time) => time >= YEAR_2025_START);
    expect(last - first).toBe(8_784);
    expect(resampled.length).toBe(8_784);
    expect(minutes.length).toBe(8_784 * 60);

    for (let i = 0; i < resampled.length; i++) {
      const j = first + i;
      // Prices must match exactly: they are picked, never computed.
      expect(resampled.time[i]).toBe(hours.time[j]);
      expect(resampled.open[i]).toBe(hours.open[j]);
      expect(resampled.high[i]).toBe(hours.high[j]);
      expect(resampled.low[i]).toBe(hours.low[j]);
      expect(resampled.close[i]).toBe(hours.close[j]);
      // Volumes are sums of 60 decimals, which binary floating point rounds.
      expect(Math.abs((resampled.volume[i] as number) - (hours.volume[j] as number))).toBeLessThanOrEqual(1e-9 * (hours.volume[j] as number) + 1e-9);
    }
  });

  it("aggregates open, high, low, close and volume per bar", () => {
    const t = Date.UTC(2024, 0, 1);
    const candles = candlesOf([
      [t, 10, 12, 9, 11, 1],
      [t + 20 * 60_000, 11, 15, 10, 14, 2],
      [t + 59 * 60_000, 14, 14, 8, 9, 3],
      [t + HOUR_MS + 5 * 60_000, 9, 10, 7, 8, 4],
    ]);
    const hourly = resampleCandles(candles, HOUR_MS);

    expect(hourly.length).toBe(2);
    expect(Array.from(hourly.time)).toEqual([t, t + HOUR_MS]);
    expect(Array.from(hourly.open)).toEqual([10, 9]);
    expect(Array.from(hourly.high)).toEqual([15, 10]);
    expect(Array.from(hourly.low)).toEqual([8, 7]);
    expect(Array.from(hourly.close)).toEqual([9, 8]);
    expect(Array.from(hourly.volume)).toEqual([6, 4]);
  });

  it("keeps volume NaN when the source has none", () => {
    const t = Date.UTC(2024, 0, 1);
    const candles = candlesOf([
      [t, 10, 12, 9, 11, NaN],
      [t + 60_000, 11, 15, 10, 14, NaN],
    ]);
    expect(Number.isNaN(resampleCandles(candles, HOUR_MS).volume[0])).toBe(true);
  });

  it("rejects a target shorter than the data's interval", () => {
    expect(resampleProblem(HOUR_MS, "5m")).toMatch(/shorter than the dataset's bar interval of 1h/);
    expect(resampleProblem(86_400_000, "4h")).toMatch(/shorter than the dataset's bar interval of 1d/);
    expect(resampleProblem(7 * 60_000, "15m")).toMatch(/not a whole multiple/);
    expect(resampleProblem(60_000, "2h")).toMatch(/not supported: use one of 5m, 15m, 1h, 4h, 1d/);
    expect(resampleProblem(60_000, "1h")).toBeUndefined();
    expect(resampleProblem(HOUR_MS, "1h")).toBeUndefined();
  });

  it("fails a load with a target shorter than the dataset's", async () => {
    await expect(loadCandles("btcusdt-1h", "15m")).rejects.toMatchObject({ name: "EngineInputError", field: "resample" });
  });

  it("parses and formats timeframes", () => {
    expect(timeframeMs("1m")).toBe(60_000);
    expect(timeframeMs("4h")).toBe(4 * HOUR_MS);
    expect(timeframeMs("1d")).toBe(86_400_000);
    expect(timeframeMs("0m")).toBeUndefined();
    expect(timeframeMs("1 h")).toBeUndefined();
    expect(formatTimeframe(HOUR_MS)).toBe("1h");
    expect(formatTimeframe(90_000)).toBe("90s");
  });
});
