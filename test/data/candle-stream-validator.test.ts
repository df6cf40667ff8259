import { gzipSync } from "node:zlib";

import { describe, expect, it } from "vitest";

import { CsvFormatError, parseCandleCsv } from "../../src/data/csv";
import { CandleStreamValidator, type CandleSummary } from "../../src/data/uploads/candle-stream-validator";

const HEADER = "timestamp,open,high,low,close,volume";

/** Hourly rows from 2024-01-01 00:00 UTC, `count` of them, with valid prices. */
function hourlyRows(count: number, skipHours: ReadonlySet<number> = new Set()): string[] {
  const rows: string[] = [];
  for (let hour = 0; rows.length < count; hour++) {
    if (skipHours.has(hour)) continue;
    const time = new Date(Date.UTC(2024, 0, 1, hour)).toISOString().replace("T", " ").slice(0, 19);
    rows.push(`${time},100,101,99,100.5,${hour + 1}`);
  }
  return rows;
}

function csv(rows: string[]): string {
  return [HEADER, ...rows].join("\n") + "\n";
}

/** Feeds `text` in chunks of `chunkBytes` through a validator that parses blocks of `blockBytes`. */
function validate(text: string | Buffer, chunkBytes: number, blockBytes = 64): CandleSummary {
  const validator = new CandleStreamValidator({ blockBytes, maxLineBytes: 200 });
  const bytes = typeof text === "string" ? Buffer.from(text) : text;
  for (let at = 0; at < bytes.length; at += chunkBytes) validator.write(bytes.subarray(at, at + chunkBytes));
  return validator.end();
}

function errorOf(run: () => unknown): CsvFormatError {
  try {
    run();
  } catch (err) {
    if (err instanceof CsvFormatError) return err;
    throw err;
  }
  throw new Error("expected a CsvFormatError");
}

const CHUNK_SIZES = [1, 7, 50, 100_000];

/** Invalid files, each with the row and a phrase of the reason that the error must name. */
const INVALID_CASES: { name: string; text: string; row: number; reason: RegExp }[] = [
  { name: "missing close column", text: "timestamp,open,high,low\n2024-01-01,1,2,1\n", row: 1, reason: /missing column "close"/ },
  { name: "unparseable number", text: csv([...hourlyRows(9), "2024-01-02 00:00:00,100,abc,99,100,1"]), row: 11, reason: /invalid number "abc" in column high/ },
  { name: "zero price", text: csv([...hourlyRows(4), "2024-01-02 00:00:00,0,101,99,100,1"]), row: 6, reason: /invalid open price 0/ },
  { name: "negative price", text: csv([...hourlyRows(12), "2024-01-02 00:00:00,100,101,-99,100,1"]), row: 14, reason: /invalid low price -99/ },
  { name: "high below low", text: csv([...hourlyRows(7), "2024-01-02 00:00:00,100,98,99,100,1"]), row: 9, reason: /high 98 is below low 99/ },
  { name: "unsorted timestamp", text: csv([...hourlyRows(10), "2024-01-01 03:00:00,100,101,99,100,1"]), row: 12, reason: /unsorted timestamp/ },
  { name: "duplicate timestamp", text: csv([...hourlyRows(6), "2024-01-01 05:00:00,100,101,99,100,1"]), row: 8, reason: /duplicate timestamp/ },
  { name: "bad timestamp", text: csv([...hourlyRows(3), "yesterday,100,101,99,100,1"]), row: 5, reason: /invalid timestamp "yesterday"/ },
  { name: "too few fields", text: csv([...hourlyRows(5), "2024-01-02 00:00:00,100"]), row: 7, reason: /expected at least 6 fields/ },
  { name: "blank lines before the bad row", text: csv([...hourlyRows(5), "", "", "2024-01-01 01:00:00,100,101,99,100,1"]), row: 9, reason: /unsorted timestamp/ },
  { name: "header without rows", text: `${HEADER}\n`, row: 1, reason: /no data rows/ },
  { name: "empty body", text: "", row: 1, reason: /the file is empty/ },
];

describe("streaming candle validation", () => {
  for (const testCase of INVALID_CASES) {
    it(`rejects ${testCase.name} at its row`, () => {
      for (const chunkBytes of CHUNK_SIZES) {
        const error = errorOf(() => validate(testCase.text, chunkBytes));
        expect(error.row, `chunks of ${chunkBytes} bytes`).toBe(testCase.row);
        expect(error.reason).toMatch(testCase.reason);
      }
    });
  }

  it("reports the same row and reason as parsing the whole file", () => {
    for (const testCase of INVALID_CASES.filter((candidate) => candidate.text !== "")) {
      const whole = errorOf(() => parseCandleCsv(testCase.text));
      const streamed = errorOf(() => validate(testCase.text, 13));
      expect(streamed.row, testCase.name).toBe(whole.row);
      expect(streamed.reason, testCase.name).toBe(whole.reason);
    }
  });

  it("summarises rows, range and gaps", () => {
    const rows = hourlyRows(200, new Set([10, 11, 12, 50, 120, 121]));
    for (const chunkBytes of CHUNK_SIZES) {
      const summary = validate(csv(rows), chunkBytes);
      expect(summary.rows).toBe(200);
      expect(summary.firstTime).toBe(Date.UTC(2024, 0, 1, 0));
      expect(summary.lastTime).toBe(Date.UTC(2024, 0, 1, 205));
      expect(summary.intervalMs).toBe(3_600_000);
      expect(summary.gaps.count).toBe(3);
      expect(summary.gaps.missingBars).toBe(6);
      expect(summary.gaps.largest).toEqual([
        { after: "2024-01-01T09:00:00.000Z", before: "2024-01-01T13:00:00.000Z", missingBars: 3 },
        { after: "2024-01-05T23:00:00.000Z", before: "2024-01-06T02:00:00.000Z", missingBars: 2 },
        { after: "2024-01-03T01:00:00.000Z", before: "2024-01-03T03:00:00.000Z", missingBars: 1 },
      ]);
    }
  });

  it("accepts ISO text, epoch seconds and epoch milliseconds", () => {
    const start = Date.UTC(2024, 0, 1);
    const texts = [
      csv(["2024-01-01T00:00:00Z,1,2,1,1,0", "2024-01-01T00:01:00Z,1,2,1,1,0"]),
      csv([`${start / 1000},1,2,1,1,0`, `${start / 1000 + 60},1,2,1,1,0`]),
      csv([`${start},1,2,1,1,0`, `${start + 60_000},1,2,1,1,0`]),
    ];
    for (const text of texts) {
      const summary = validate(text, 5);
      expect(summary.firstTime).toBe(start);
      expect(summary.intervalMs).toBe(60_000);
    }
  });

  it("accepts CRLF line endings, a byte order mark and a last line without newline", () => {
    const text = "\uFEFF" + [HEADER, ...hourlyRows(30)].join("\r\n");
    for (const chunkBytes of CHUNK_SIZES) {
      expect(validate(text, chunkBytes).rows).toBe(30);
    }
  });

  it("rejects gzip bytes sent as plain CSV", () => {
    const error = errorOf(() => validate(gzipSync(csv(hourlyRows(3))), 100));
    expect(error.row).toBe(1);
    expect(error.reason).toMatch(/gzip-compressed: send it with Content-Type: application\/gzip/);
  });

  it("rejects a line longer than the limit", () => {
    const error = errorOf(() => validate(csv([...hourlyRows(3), "9".repeat(300)]), 16));
    expect(error.row).toBe(5);
    expect(error.reason).toMatch(/longer than 200 bytes/);
  });

  it("counts a single row without an interval", () => {
    const summary = validate(csv(hourlyRows(1)), 4);
    expect(summary.rows).toBe(1);
    expect(summary.intervalMs).toBeNull();
    expect(summary.gaps).toEqual({ count: 0, missingBars: 0, largest: [] });
  });
});
