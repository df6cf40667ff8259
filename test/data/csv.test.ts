import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { CsvFormatError, loadCandleCsv, parseCandleCsv } from "../../src/data/csv";

const SAMPLE = [
  ",Open,High,Low,Close,Volume",
  "2004-08-19,100,104.06,95.96,100.34,22351900",
  "2004-08-20,101.01,109.08,100.5,108.31,11428600",
  "2004-08-23,110.75,113.48,109.05,109.4,9137200",
].join("\n");

function formatError(text: string): CsvFormatError {
  try {
    parseCandleCsv(text);
  } catch (error) {
    if (error instanceof CsvFormatError) return error;
    throw error;
  }
  throw new Error("expected a CsvFormatError, but the CSV parsed");
}

describe("parseCandleCsv", () => {
  it("reads columns into typed arrays", () => {
    const candles = parseCandleCsv(SAMPLE);
    expect(candles.length).toBe(3);
    expect(Array.from(candles.time)).toEqual([Date.UTC(2004, 7, 19), Date.UTC(2004, 7, 20), Date.UTC(2004, 7, 23)]);
    expect(Array.from(candles.open)).toEqual([100, 101.01, 110.75]);
    expect(Array.from(candles.high)).toEqual([104.06, 109.08, 113.48]);
    expect(Array.from(candles.low)).toEqual([95.96, 100.5, 109.05]);
    expect(Array.from(candles.close)).toEqual([100.34, 108.31, 109.4]);
    expect(Array.from(candles.volume)).toEqual([22351900, 11428600, 9137200]);
  });

  it("parses gzip the same as plain text", () => {
    expect(parseCandleCsv(gzipSync(Buffer.from(SAMPLE)))).toEqual(parseCandleCsv(Buffer.from(SAMPLE)));
  });

  it("accepts any column order, case, extra columns, CRLF and a BOM", () => {
    const text = "\uFEFFDate,Close,Adj Close,LOW,High,Open,OpenInterest\r\n2006-01-02,3604.33,1,3578.17,3605.95,3578.23,0\r\n\r\n";
    const candles = parseCandleCsv(text);
    expect(candles.length).toBe(1);
    expect(candles.open[0]).toBe(3578.23);
    expect(candles.close[0]).toBe(3604.33);
    expect(candles.low[0]).toBe(3578.17);
    expect(Number.isNaN(candles.volume[0])).toBe(true);
  });

  it("matches Number() on every decimal form", () => {
    const values = ["0.1", "42283.58", "1e3", "0.000123456789012345678", "123456789012345678", "+7.5", "00012.50"];
    const text = ["time,open,high,low,close", ...values.map((value, i) => `${i + 1},${value},${value},${value},${value}`)].join("\n");
    expect(Array.from(parseCandleCsv(text).open)).toEqual(values.map(Number));
  });
});

describe("timestamp formats", () => {
  const expected = Date.UTC(2024, 0, 2, 3, 4, 5);
  it.each([
    ["2024-01-02 03:04:05", expected],
    ["2024-01-02T03:04:05", expected],
    ["2024-01-02T03:04:05Z", expected],
    ["2024-01-02T03:04:05.250Z", expected + 250],
    ["2024-01-02T05:04:05+02:00", expected],
    ["2024-01-02 03:04", expected - 5000],
    ["2024-01-02", Date.UTC(2024, 0, 2)],
    [String(expected / 1000), expected],
    [String(expected), expected],
  ])("reads %s", (timestamp, epochMs) => {
    const candles = parseCandleCsv(`timestamp,open,high,low,close,volume\n${timestamp},1,2,0.5,1.5,10`);
    expect(candles.time[0]).toBe(epochMs);
  });
});

describe("CSV validation", () => {
  const header = "datetime,open,high,low,close,volume";
  const good = "2024-01-01 00:00:00,10,11,9,10.5,1";

  it.each([
    ["a missing column", "datetime,open,high,close,volume\n" + good, 1, /missing column "low"/],
    ["no time column", "when,open,high,low,close\n" + good, 1, /no time column/],
    ["a short row", `${header}\n${good}\n2024-01-01 01:00:00,10,11`, 3, /expected at least 6 fields, found 3/],
    ["an unparseable number", `${header}\n${good}\n2024-01-01 01:00:00,10,11x,9,10,1`, 3, /invalid number "11x" in column high/],
    ["an empty number", `${header}\n2024-01-01 00:00:00,10,11,9,,1`, 2, /invalid number "" in column close/],
    ["a non-positive price", `${header}\n${good}\n2024-01-01 01:00:00,0,11,9,10,1`, 3, /invalid open price 0/],
    ["high below low", `${header}\n${good}\n\n2024-01-01 01:00:00,10,9,11,10,1`, 4, /high 9 is below low 11/],
    ["a negative volume", `${header}\n2024-01-01 00:00:00,10,11,9,10,-1`, 2, /volume -1/],
    ["a duplicate timestamp", `${header}\n${good}\n${good}`, 3, /duplicate timestamp 2024-01-01T00:00:00.000Z/],
    ["an unsorted timestamp", `${header}\n${good}\n2023-12-31 23:00:00,10,11,9,10,1`, 3, /unsorted timestamp/],
    ["an invalid date", `${header}\n2024-02-30 00:00:00,10,11,9,10,1`, 2, /invalid timestamp "2024-02-30 00:00:00"/],
    ["no data rows", `${header}\n`, 1, /no data rows/],
    ["an empty file", "", 1, /the file is empty/],
  ])("reports %s with its row", (_case, text, row, reason) => {
    const error = formatError(text);
    expect(error.row).toBe(row);
    expect(error.reason).toMatch(reason);
    expect(error.message).toContain(`row ${row}`);
  });
});

describe("loadCandleCsv", () => {
  let directory: string;

  beforeAll(async () => {
    directory = await mkdtemp(path.join(os.tmpdir(), "backplane-csv-"));
  });

  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it("loads plain and gzip files alike", async () => {
    const plainPath = path.join(directory, "sample.csv");
    const gzipPath = path.join(directory, "sample.csv.gz");
    await writeFile(plainPath, SAMPLE);
    await writeFile(gzipPath, gzipSync(Buffer.from(SAMPLE)));

    const plain = await loadCandleCsv(plainPath);
    expect(plain.length).toBe(3);
    expect(await loadCandleCsv(gzipPath)).toEqual(plain);
  });
});
