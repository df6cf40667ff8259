import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { gunzip, gunzipSync } from "node:zlib";

import { type Candles, allocateCandles, isoTime, sliceCandles } from "./candles";
import { fieldText, parseDecimal, parseTimestamp } from "./fields";

const gunzipAsync = promisify(gunzip);

const CHAR_NEWLINE = 0x0a;
const CHAR_RETURN = 0x0d;
const CHAR_COMMA = 0x2c;
const CHAR_QUOTE = 0x22;
const CHAR_SPACE = 0x20;

/** Header names accepted for the time column (compared in lower case); an empty header also counts. */
const TIME_HEADERS: ReadonlySet<string> = new Set(["date", "datetime", "timestamp", "time"]);

/** A CSV that cannot become candles. `row` is the 1-based line number in the file, the header being row 1. */
export class CsvFormatError extends Error {
  override readonly name = "CsvFormatError";

  constructor(
    readonly row: number,
    readonly reason: string,
  ) {
    super(`Invalid candle CSV at row ${row}: ${reason}`);
  }
}

/** Column positions of one file, found from its header. `volume` is -1 when the file has none. */
interface ColumnLayout {
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  /** The number of fields a data row must have at least. */
  needed: number;
}

/** True when the bytes start with the gzip magic number 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Parses candle CSV text, plain or gzip-compressed, into columnar candles.
 *
 * The header names the columns, in any case and order. The time column is the first one named
 * `date`, `datetime`, `timestamp` or `time`, or with an empty name. The others are `open`, `high`,
 * `low`, `close` and, optionally, `volume`. Other columns are ignored. Rows must be sorted by strictly
 * increasing time. Throws `CsvFormatError` with the row number and the reason on the first bad row.
 */
export function parseCandleCsv(input: Uint8Array | string): Candles {
  let bytes = typeof input === "string" ? Buffer.from(input, "utf8") : input;
  if (isGzip(bytes)) bytes = gunzipSync(bytes);
  return parseCandleBytes(bytes);
}

/** Reads and parses a candle CSV file, plain or gzip-compressed (see `parseCandleCsv`). */
export async function loadCandleCsv(filePath: string): Promise<Candles> {
  let bytes: Uint8Array = await readFile(filePath);
  // Decompress on the libuv thread pool so a 10 MB archive does not block the event loop.
  if (isGzip(bytes)) bytes = await gunzipAsync(bytes);
  return parseCandleBytes(bytes);
}

function parseCandleBytes(bytes: Uint8Array): Candles {
  let position = hasUtf8Bom(bytes) ? 3 : 0;
  if (position >= bytes.length) throw new CsvFormatError(1, "the file is empty: expected a header and data rows");
  const headerEnd = lineEnd(bytes, position);
  const layout = parseHeader(fieldText(bytes, position, trimReturn(bytes, position, headerEnd)));
  position = headerEnd + 1;

  const candles = allocateCandles(countLines(bytes, position));
  const starts = new Int32Array(layout.needed);
  const ends = new Int32Array(layout.needed);
  let count = 0;
  let row = 1;

  while (position < bytes.length) {
    row++;
    const end = lineEnd(bytes, position);
    const contentEnd = trimReturn(bytes, position, end);
    if (contentEnd > position) {
      splitFields(bytes, position, contentEnd, starts, ends, row);
      readRow(bytes, starts, ends, layout, candles, count, row);
      count++;
    }
    position = end + 1;
  }

  if (count === 0) throw new CsvFormatError(row, "the file has a header but no data rows");
  return count === candles.length ? candles : sliceCandles(candles, count);
}

function hasUtf8Bom(bytes: Uint8Array): boolean {
  return bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
}

/** Index of the newline that ends the line starting at `from`, or bytes.length for the last line. */
function lineEnd(bytes: Uint8Array, from: number): number {
  const index = bytes.indexOf(CHAR_NEWLINE, from);
  return index === -1 ? bytes.length : index;
}

function trimReturn(bytes: Uint8Array, start: number, end: number): number {
  return end > start && bytes[end - 1] === CHAR_RETURN ? end - 1 : end;
}

/** Counts the lines from `from` on, an upper bound on the data rows. */
function countLines(bytes: Uint8Array, from: number): number {
  let lines = 0;
  let position = from;
  while (position < bytes.length) {
    lines++;
    position = lineEnd(bytes, position) + 1;
  }
  return lines;
}

function parseHeader(line: string): ColumnLayout {
  const names = line.split(",").map((name) => unquote(name.trim()).trim().toLowerCase());
  const time = names.findIndex((name) => name === "" || TIME_HEADERS.has(name));
  if (time === -1) {
    throw new CsvFormatError(
      1,
      `no time column in header "${line}": name the first column date, datetime, timestamp or time, or leave its name empty`,
    );
  }

  const find = (column: string, required: boolean): number => {
    const index = names.indexOf(column);
    if (index === -1 && required) {
      throw new CsvFormatError(1, `missing column "${column}" in header "${line}": the header must name open, high, low and close`);
    }
    return index;
  };
  const layout = {
    time,
    open: find("open", true),
    high: find("high", true),
    low: find("low", true),
    close: find("close", true),
    volume: find("volume", false),
  };
  return { ...layout, needed: Math.max(...Object.values(layout)) + 1 };
}

function unquote(text: string): string {
  return text.length >= 2 && text.startsWith('"') && text.endsWith('"') ? text.slice(1, -1) : text;
}

/**
 * Records the bounds of the first `starts.length` fields of the line bytes[start, end), without
 * surrounding spaces or double quotes. Quoted fields may not contain commas.
 */
function splitFields(
  bytes: Uint8Array,
  start: number,
  end: number,
  starts: Int32Array,
  ends: Int32Array,
  row: number,
): void {
  let fieldStart = start;
  for (let field = 0; field < starts.length; field++) {
    if (fieldStart > end) {
      throw new CsvFormatError(row, `expected at least ${starts.length} fields, found ${field}`);
    }
    let fieldEnd = bytes.indexOf(CHAR_COMMA, fieldStart);
    if (fieldEnd === -1 || fieldEnd > end) fieldEnd = end;

    let from = fieldStart;
    let to = fieldEnd;
    while (from < to && bytes[from] === CHAR_SPACE) from++;
    while (to > from && bytes[to - 1] === CHAR_SPACE) to--;
    if (to - from >= 2 && bytes[from] === CHAR_QUOTE && bytes[to - 1] === CHAR_QUOTE) {
      from++;
      to--;
    }
    starts[field] = from;
    ends[field] = to;
    fieldStart = fieldEnd + 1;
  }
}

function readRow(
  bytes: Uint8Array,
  starts: Int32Array,
  ends: Int32Array,
  layout: ColumnLayout,
  candles: Candles,
  index: number,
  row: number,
): void {
  const timeStart = starts[layout.time] as number;
  const timeEnd = ends[layout.time] as number;
  const time = parseTimestamp(bytes, timeStart, timeEnd);
  if (Number.isNaN(time)) {
    throw new CsvFormatError(
      row,
      `invalid timestamp "${fieldText(bytes, timeStart, timeEnd)}": use YYYY-MM-DD, YYYY-MM-DD HH:MM:SS (UTC), ISO 8601 or epoch seconds or milliseconds`,
    );
  }
  if (index > 0) checkOrder(candles.time[index - 1] as number, time, row);

  const open = readPrice(bytes, starts, ends, layout.open, "open", row);
  const high = readPrice(bytes, starts, ends, layout.high, "high", row);
  const low = readPrice(bytes, starts, ends, layout.low, "low", row);
  const close = readPrice(bytes, starts, ends, layout.close, "close", row);
  if (high < low) throw new CsvFormatError(row, `high ${high} is below low ${low}`);
  const volume = layout.volume === -1 ? NaN : readVolume(bytes, starts, ends, layout.volume, row);

  candles.time[index] = time;
  candles.open[index] = open;
  candles.high[index] = high;
  candles.low[index] = low;
  candles.close[index] = close;
  candles.volume[index] = volume;
}

function checkOrder(previous: number, time: number, row: number): void {
  if (time > previous) return;

  const problem = time === previous ? "duplicate" : "unsorted";
  throw new CsvFormatError(
    row,
    `${problem} timestamp ${isoTime(time)}: it does not come after the previous row's ${isoTime(previous)}, so sort the rows by time and drop duplicates`,
  );
}

function readNumber(
  bytes: Uint8Array,
  starts: Int32Array,
  ends: Int32Array,
  column: number,
  name: string,
  row: number,
): number {
  const start = starts[column] as number;
  const end = ends[column] as number;
  const value = parseDecimal(bytes, start, end);
  if (Number.isNaN(value)) {
    throw new CsvFormatError(
      row,
      `invalid number "${fieldText(bytes, start, end)}" in column ${name}: expected a decimal such as 101.25`,
    );
  }
  return value;
}

function readPrice(
  bytes: Uint8Array,
  starts: Int32Array,
  ends: Int32Array,
  column: number,
  name: string,
  row: number,
): number {
  const value = readNumber(bytes, starts, ends, column, name, row);
  if (!(value > 0) || value === Infinity) {
    throw new CsvFormatError(row, `invalid ${name} price ${value}: expected a finite number above 0`);
  }
  return value;
}

function readVolume(bytes: Uint8Array, starts: Int32Array, ends: Int32Array, column: number, row: number): number {
  const value = readNumber(bytes, starts, ends, column, "volume", row);
  if (value < 0 || value === Infinity) {
    throw new CsvFormatError(row, `invalid volume ${value}: expected a finite number of 0 or more`);
  }
  return value;
}
