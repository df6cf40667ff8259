import { type Candles, isoTime } from "../candles";
import { CsvFormatError, isGzip, parseCandleCsv } from "../csv";

const NEWLINE = 0x0a;
const RETURN = 0x0d;
const NEWLINE_BYTES = Buffer.from("\n");

/** Gaps listed in a summary, longest first. */
const LARGEST_GAPS = 5;

/**
 * Distinct intervals between rows that are counted exactly. Regular candles have a handful, so
 * only irregular data (ticks, random times) reaches the cap, and its gap figures become estimates.
 */
const MAX_DISTINCT_INTERVALS = 100_000;

export interface CandleStreamValidatorOptions {
  /** Bytes of complete lines collected before they are parsed together. Default 1 MiB. */
  blockBytes?: number;
  /** Longest accepted line, in bytes; a longer one is rejected with its row. Default 64 KiB. */
  maxLineBytes?: number;
}

/** One stretch of missing bars between two consecutive rows. */
export interface CandleGap {
  /** Open time of the row before the gap, ISO 8601 UTC. */
  after: string;
  /** Open time of the row after the gap, ISO 8601 UTC. */
  before: string;
  /** Bars of the modal interval that would fit between the two rows. */
  missingBars: number;
}

/** Intervals between rows that are longer than the modal interval. */
export interface GapReport {
  count: number;
  /** Bars missing across every gap, in bars of the modal interval. */
  missingBars: number;
  /** At most five gaps, longest first. */
  largest: CandleGap[];
  /** True when the rows had too many distinct intervals to count exactly. */
  estimated?: boolean;
}

/** What a validated candle file contains. */
export interface CandleSummary {
  rows: number;
  /** Open time of the first row, epoch milliseconds. */
  firstTime: number;
  lastTime: number;
  /** The most common interval between consecutive rows, or null with a single row. */
  intervalMs: number | null;
  gaps: GapReport;
}

/**
 * Validates candle CSV that arrives in chunks, with the rules and messages of `parseCandleCsv`,
 * and summarises it without keeping the rows. Complete lines are collected into blocks, and
 * each block is parsed by `parseCandleCsv` behind the header and the last row of the previous
 * block, so the order check spans blocks and row numbers refer to the whole file.
 * `write` and `end` throw `CsvFormatError` at the first invalid row.
 */
export class CandleStreamValidator {
  private readonly blockBytes: number;
  private readonly maxLineBytes: number;

  private header: Buffer | undefined;
  /** Bytes of the line that has not ended yet. */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  /** Complete lines waiting to be parsed, and the file row of the first of them. */
  private block: Buffer[] = [];
  private blockBytesCollected = 0;
  private blockLines = 0;
  private blockFirstRow = 2;
  /** The last non-empty row parsed so far, repeated before the next block. */
  private carry: { line: Buffer; row: number } | undefined;

  private rows = 0;
  private firstTime = Number.NaN;
  private lastTime = Number.NaN;
  private readonly intervals = new Map<number, number>();
  private estimated = false;
  private longest: { after: number; before: number; interval: number }[] = [];

  constructor(options: CandleStreamValidatorOptions = {}) {
    this.blockBytes = options.blockBytes ?? 1024 * 1024;
    this.maxLineBytes = options.maxLineBytes ?? 64 * 1024;
  }

  write(chunk: Uint8Array): void {
    let bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.header === undefined) {
      const rest = this.takeHeader(bytes);
      if (rest === undefined) return;
      bytes = rest;
    }

    const lastNewline = bytes.lastIndexOf(NEWLINE);
    if (lastNewline === -1) {
      this.addPartial(bytes);
      return;
    }

    // Everything up to the last newline completes lines; the rest starts the next partial line.
    const complete = bytes.subarray(0, lastNewline + 1);
    const lines = this.countLines(complete);
    this.block.push(...this.partial, complete);
    this.blockBytesCollected += this.partialBytes + complete.length;
    this.blockLines += lines;
    this.partial = [];
    this.partialBytes = 0;
    this.addPartial(bytes.subarray(lastNewline + 1));

    // The first block is parsed at once, so that a bad header or first row fails early.
    if (this.blockBytesCollected >= this.blockBytes || this.rows === 0) this.flush();
  }

  /** Validates what remains and returns the summary. */
  end(): CandleSummary {
    if (this.header === undefined) {
      // No newline at all: the input is empty or a lone header, which parseCandleCsv rejects.
      parseCandleCsv(Buffer.concat(this.partial));
      throw new CsvFormatError(1, "the file has a header but no data rows");
    }
    if (this.partialBytes > 0) {
      this.block.push(...this.partial, NEWLINE_BYTES);
      this.blockLines += 1;
      this.partial = [];
      this.partialBytes = 0;
    }
    this.flush();
    if (this.rows === 0) {
      parseCandleCsv(this.header);
      throw new CsvFormatError(1, "the file has a header but no data rows");
    }
    return this.summary();
  }

  /** Splits off the header line once it is complete; returns the bytes after it, or undefined. */
  private takeHeader(bytes: Buffer): Buffer | undefined {
    if (this.partialBytes === 0 && isGzip(bytes)) {
      throw new CsvFormatError(1, "the body is gzip-compressed: send it with Content-Type: application/gzip");
    }
    const newline = bytes.indexOf(NEWLINE);
    if (newline === -1) {
      this.addPartial(bytes);
      return undefined;
    }

    let header = Buffer.concat([...this.partial, bytes.subarray(0, newline)]);
    if (header[0] === 0xef && header[1] === 0xbb && header[2] === 0xbf) header = header.subarray(3);
    if (header.length > this.maxLineBytes) throw this.lineTooLong(1);
    this.header = header;
    this.partial = [];
    this.partialBytes = 0;
    return bytes.subarray(newline + 1);
  }

  private addPartial(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.partial.push(bytes);
    this.partialBytes += bytes.length;
    if (this.partialBytes > this.maxLineBytes) {
      throw this.lineTooLong(this.header === undefined ? 1 : this.blockFirstRow + this.blockLines);
    }
  }

  /**
   * Counts the lines that `complete` (which ends with a newline) ends, and rejects one longer
   * than the limit. The first of them began in the partial line.
   */
  private countLines(complete: Buffer): number {
    let start = 0;
    let lines = 0;
    while (start < complete.length) {
      const end = complete.indexOf(NEWLINE, start);
      const length = end - start + (lines === 0 ? this.partialBytes : 0);
      if (length > this.maxLineBytes) throw this.lineTooLong(this.blockFirstRow + this.blockLines + lines);
      start = end + 1;
      lines++;
    }
    return lines;
  }

  private lineTooLong(row: number): CsvFormatError {
    return new CsvFormatError(row, `the line is longer than ${this.maxLineBytes} bytes: a candle row needs far less, so check the file's line endings`);
  }

  /** Parses the collected block behind the header and the carried row, and folds it into the summary. */
  private flush(): void {
    const header = this.header;
    if (header === undefined || this.blockLines === 0) return;

    const block = Buffer.concat(this.block);
    const lastLine = lastNonEmptyLine(block, this.blockLines);
    const carry = this.carry;
    if (lastLine !== undefined) {
      const parts = carry === undefined ? [header, NEWLINE_BYTES, block] : [header, NEWLINE_BYTES, carry.line, NEWLINE_BYTES, block];
      const candles = this.parse(Buffer.concat(parts), carry);
      this.fold(candles, carry === undefined ? 0 : 1);
      this.carry = { line: Buffer.from(lastLine.bytes), row: this.blockFirstRow + lastLine.index };
    }

    this.blockFirstRow += this.blockLines;
    this.block = [];
    this.blockBytesCollected = 0;
    this.blockLines = 0;
  }

  /** Runs parseCandleCsv and maps the row of its error from the parsed text back to the file. */
  private parse(text: Buffer, carry: { row: number } | undefined): Candles {
    try {
      return parseCandleCsv(text);
    } catch (err) {
      if (!(err instanceof CsvFormatError)) throw err;
      let row = err.row;
      if (row > 1) row = carry === undefined ? this.blockFirstRow + row - 2 : row === 2 ? carry.row : this.blockFirstRow + row - 3;
      throw new CsvFormatError(row, err.reason);
    }
  }

  private fold(candles: Candles, from: number): void {
    for (let i = from; i < candles.length; i++) {
      const time = candles.time[i] as number;
      if (this.rows === 0) {
        this.firstTime = time;
      } else {
        this.countInterval(this.lastTime, time);
      }
      this.lastTime = time;
      this.rows++;
    }
  }

  private countInterval(after: number, before: number): void {
    const interval = before - after;
    const seen = this.intervals.get(interval);
    if (seen !== undefined) this.intervals.set(interval, seen + 1);
    else if (this.intervals.size < MAX_DISTINCT_INTERVALS) this.intervals.set(interval, 1);
    else this.estimated = true;

    // Keep the longest intervals; whether they are gaps is known only once the mode is.
    const shortest = this.longest[this.longest.length - 1];
    if (this.longest.length < LARGEST_GAPS || (shortest !== undefined && interval > shortest.interval)) {
      this.longest.push({ after, before, interval });
      this.longest.sort((a, b) => b.interval - a.interval);
      if (this.longest.length > LARGEST_GAPS) this.longest.pop();
    }
  }

  private summary(): CandleSummary {
    let intervalMs: number | null = null;
    let modalCount = 0;
    for (const [interval, count] of this.intervals) {
      if (count > modalCount || (count === modalCount && intervalMs !== null && interval < intervalMs)) {
        intervalMs = interval;
        modalCount = count;
      }
    }

    const gaps: GapReport = { count: 0, missingBars: 0, largest: [] };
    if (intervalMs !== null) {
      const modal = intervalMs;
      for (const [interval, count] of this.intervals) {
        if (interval <= modal) continue;
        gaps.count += count;
        gaps.missingBars += missingBars(interval, modal) * count;
      }
      gaps.largest = this.longest
        .filter((gap) => gap.interval > modal)
        .map((gap) => ({ after: isoTime(gap.after), before: isoTime(gap.before), missingBars: missingBars(gap.interval, modal) }));
    }
    if (this.estimated) gaps.estimated = true;

    return { rows: this.rows, firstTime: this.firstTime, lastTime: this.lastTime, intervalMs, gaps };
  }
}

function missingBars(interval: number, modal: number): number {
  return Math.max(0, Math.round(interval / modal) - 1);
}

/**
 * The last line with content of `block`, which holds `lines` complete lines each ending in a
 * newline, and its 0-based index among them.
 */
function lastNonEmptyLine(block: Buffer, lines: number): { bytes: Buffer; index: number } | undefined {
  let lineEnd = block.length - 1;
  let index = lines - 1;
  while (lineEnd >= 0) {
    // Buffer.lastIndexOf reads a negative offset from the end, so the first line needs its own case.
    const previous = lineEnd === 0 ? -1 : block.lastIndexOf(NEWLINE, lineEnd - 1);
    let contentEnd = lineEnd;
    if (contentEnd > previous + 1 && block[contentEnd - 1] === RETURN) contentEnd--;
    if (contentEnd > previous + 1) return { bytes: block.subarray(previous + 1, contentEnd), index };
    lineEnd = previous;
    index--;
  }
  return undefined;
}
