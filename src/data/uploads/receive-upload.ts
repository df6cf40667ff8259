import { randomUUID } from "node:crypto";
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, open, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { Transform, Writable, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";

import { isoTime } from "../candles";
import { CsvFormatError } from "../csv";
import { formatTimeframe, timeframeMs } from "../resample";
import { CandleStreamValidator, type CandleSummary } from "./candle-stream-validator";
import { META_FILE, type UploadedDatasetInfo, type UploadedDatasetMeta, hasUpload, uploadFolder, uploadsDirectory } from "./upload-store";

/** The id, symbol and timeframe that the client gives the new dataset. */
export interface UploadTarget {
  id: string;
  symbol: string;
  /** Declared bar interval such as `1m`; it must match the most common interval of the rows. */
  timeframe: string;
}

export interface ReceiveUploadOptions {
  /** Largest body accepted, and largest CSV after decompression, in bytes. */
  maxBytes: number;
  /** The body is gzip-compressed CSV rather than plain CSV. */
  compressed: boolean;
}

export type UploadErrorKind = "conflict" | "too_large" | "invalid" | "aborted";

/** An upload that was rejected or broke off; nothing of it is left on disk. */
export class UploadError extends Error {
  override readonly name = "UploadError";

  constructor(
    readonly kind: UploadErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Streams an uploaded candle CSV into a hidden temporary folder under the uploads directory while
 * validating it row by row, then renames the folder into place, so other processes see either
 * the whole dataset with its metadata or nothing. The body is never held in memory whole.
 *
 * Throws `CsvFormatError` for an invalid row and `UploadError` for a conflict, an oversized or
 * undecodable body, a timeframe that does not match the rows, or an aborted request. Any failure
 * removes the temporary folder.
 */
export async function receiveUpload(body: Readable, target: UploadTarget, options: ReceiveUploadOptions): Promise<UploadedDatasetInfo> {
  if (hasUpload(target.id)) throw conflict(target.id);

  const temporary = path.join(uploadsDirectory(), `.upload-${randomUUID()}`);
  await mkdir(temporary, { recursive: true });
  try {
    const file = options.compressed ? "candles.csv.gz" : "candles.csv";
    const received = await streamToFile(body, path.join(temporary, file), options);
    const meta = describeUpload(target, received, file, options.compressed);
    await writeFile(path.join(temporary, META_FILE), JSON.stringify(meta, null, 2), { flag: "wx" });
    await publish(temporary, target.id);

    const { file: _file, ...info } = meta;
    return info;
  } catch (err) {
    throw classify(err);
  } finally {
    // After a successful rename the temporary folder no longer exists, and this does nothing.
    await rm(temporary, { recursive: true, force: true });
  }
}

interface ReceivedFile {
  bytes: number;
  summary: CandleSummary;
}

/** Writes the body to `filePath` as received, and validates it, decompressed, on the way. */
async function streamToFile(body: Readable, filePath: string, options: ReceiveUploadOptions): Promise<ReceivedFile> {
  const file = createWriteStream(filePath, { flags: "wx" });
  const limit = byteLimit(options.maxBytes, "request body");
  const validator = new CandleStreamValidator();
  let summary: CandleSummary | undefined;
  const sink = validatingSink(validator, options.maxBytes, (result) => (summary = result));

  try {
    if (options.compressed) await pipeline(body, limit.stream, teeTo(file), createGunzip(), sink);
    else await pipeline(body, limit.stream, teeTo(file), sink);
  } catch (err) {
    file.destroy();
    throw err;
  } finally {
    if (!file.closed) await new Promise<void>((resolve) => file.once("close", () => resolve()));
  }
  if (summary === undefined) throw new Error("the upload pipeline ended without a summary");

  // Flush the file to the device before it becomes visible, so a crash cannot publish a torn file.
  const handle = await open(filePath, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  return { bytes: limit.count(), summary };
}

/** Passes chunks through, counting their bytes, and fails once more than `maxBytes` went by. */
function byteLimit(maxBytes: number, description: string): { stream: Transform; count(): number } {
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      if (bytes > maxBytes) {
        callback(tooLarge(description, maxBytes));
        return;
      }
      callback(null, chunk);
    },
  });
  return { stream, count: () => bytes };
}

/** Writes each chunk to `file`, waiting for it to drain, and passes the chunk on. */
function teeTo(file: WriteStream): Transform {
  const tee = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (file.write(chunk)) callback(null, chunk);
      else file.once("drain", () => callback(null, chunk));
    },
    flush(callback) {
      file.end(() => callback());
    },
  });
  file.once("error", (err) => tee.destroy(err));
  return tee;
}

function validatingSink(validator: CandleStreamValidator, maxBytes: number, done: (summary: CandleSummary) => void): Writable {
  let bytes = 0;
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      if (bytes > maxBytes) {
        callback(tooLarge("decompressed CSV", maxBytes));
        return;
      }
      try {
        validator.write(chunk);
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
    final(callback) {
      try {
        done(validator.end());
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
  });
}

function describeUpload(target: UploadTarget, received: ReceivedFile, file: string, compressed: boolean): UploadedDatasetMeta {
  const { summary } = received;
  const declaredMs = timeframeMs(target.timeframe);
  if (summary.intervalMs !== null && declaredMs !== summary.intervalMs) {
    throw new UploadError(
      "invalid",
      `timeframe "${target.timeframe}" does not match the data: the most common interval between rows is ${formatTimeframe(summary.intervalMs)}. Upload again with timeframe=${formatTimeframe(summary.intervalMs)}.`,
    );
  }

  return {
    id: target.id,
    symbol: target.symbol,
    timeframe: target.timeframe,
    rows: summary.rows,
    start: isoTime(summary.firstTime),
    end: isoTime(summary.lastTime),
    source: "upload",
    intervalMs: summary.intervalMs,
    gaps: summary.gaps,
    bytes: received.bytes,
    compressed,
    uploadedAt: new Date().toISOString(),
    file,
  };
}

/** Moves the complete folder into place; renaming onto an existing folder fails, so the first upload of an id wins. */
async function publish(temporary: string, id: string): Promise<void> {
  try {
    await rename(temporary, uploadFolder(id));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOTEMPTY" || code === "EEXIST") throw conflict(id);
    throw err;
  }
}

function conflict(id: string): UploadError {
  return new UploadError("conflict", `dataset "${id}" already exists; choose another id`);
}

function tooLarge(description: string, maxBytes: number): UploadError {
  return new UploadError(
    "too_large",
    `the ${description} is larger than ${maxBytes} bytes (MAX_UPLOAD_BYTES): split the file, or compress it with gzip and send Content-Type: application/gzip`,
  );
}

/** Sorts a pipeline failure into what the client did wrong, an abort, or a server fault (returned as is). */
function classify(err: unknown): unknown {
  if (err instanceof UploadError || err instanceof CsvFormatError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === "string" && code.startsWith("Z_")) {
    return new UploadError(
      "invalid",
      `the body is not valid gzip data (${message}): compress the CSV with gzip, or send it uncompressed with Content-Type: text/csv`,
    );
  }
  if (code === "ERR_STREAM_PREMATURE_CLOSE" || code === "ECONNRESET" || code === "ECONNABORTED" || message === "aborted") {
    return new UploadError("aborted", "the client closed the connection before the upload was complete");
  }
  return err;
}
