import { PassThrough } from "node:stream";

import { Router, type Request } from "express";
import type { Logger } from "pino";
import { z } from "zod";

import { CsvFormatError } from "../../data/csv";
import { hasDataset, listDatasets } from "../../data/datasets";
import { timeframeMs } from "../../data/resample";
import { UploadError, receiveUpload } from "../../data/uploads/receive-upload";
import { UPLOAD_ID_PATTERN } from "../../data/uploads/upload-store";
import { zodIssueToError } from "../../queues/backtest-request";
import { ApiError, validationFailed } from "../errors";

export interface DatasetRoutesOptions {
  /** Largest upload, as sent and after gunzip, in bytes (MAX_UPLOAD_BYTES). */
  maxUploadBytes: number;
  logger: Logger;
}

const uploadQuerySchema = z.object({
  id: z
    .string()
    .regex(
      UPLOAD_ID_PATTERN,
      'use 1 to 64 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit',
    ),
  symbol: z.string().regex(/^[A-Za-z0-9._/-]{1,32}$/, 'use 1 to 32 letters, digits, ".", "_", "/" or "-"'),
  timeframe: z
    .string()
    .refine((value) => timeframeMs(value) !== undefined, "use a number and a unit s, m, h, d or w, such as 1m or 4h"),
});

const PLAIN_TYPES: ReadonlySet<string> = new Set(["text/csv", "text/plain"]);
const GZIP_TYPES: ReadonlySet<string> = new Set(["application/gzip", "application/x-gzip"]);

/**
 * Datasets: list the shipped and uploaded ones, read one, and upload candles as CSV. Mount it
 * before any body parser: the upload streams the raw request body to disk.
 * NOTE: the sticky primary forwards a body to the web worker over IPC without backpressure, so
 * a plain upload can occupy about its own size in memory across the primary and the worker
 * (a 100 MB upload raised the worker's peak RSS by about 180 MB). Gzip bodies mostly avoid it.
 */
export function datasetRoutes(options: DatasetRoutesOptions): Router {
  const router = Router();

  router.get("/api/datasets", async (_req, res) => {
    res.json(await listDatasets());
  });

  router.get("/api/datasets/:id", async (req, res) => {
    const id = req.params["id"] ?? "";
    const info = (await listDatasets()).find((dataset) => dataset.id === id);
    if (info === undefined)
      throw new ApiError("not_found", `dataset "${id}" was not found; GET /api/datasets lists them`);
    res.json(info);
  });

  router.post("/api/datasets", async (req, res) => {
    const body = detachBody(req);
    try {
      const target = parseUploadQuery(req.query);
      const compressed = isCompressed(req);
      const declared = Number(req.headers["content-length"]);
      if (declared > options.maxUploadBytes) {
        throw validationFailed(
          `the request body of ${declared} bytes is larger than ${options.maxUploadBytes} bytes (MAX_UPLOAD_BYTES): split the file, or compress it with gzip`,
          "body",
        );
      }
      if (hasDataset(target.id)) {
        throw new ApiError("conflict", `dataset "${target.id}" already exists; choose another id`, "id");
      }

      const info = await receiveUpload(body.stream, target, { maxBytes: options.maxUploadBytes, compressed }).catch(
        (err: unknown) => {
          throw toApiError(err, options.logger);
        },
      );
      options.logger.info(
        { datasetId: info.id, rows: info.rows, bytes: info.bytes, gaps: info.gaps.count },
        "dataset uploaded",
      );
      res.status(201).location(`/api/datasets/${info.id}`).json(info);
    } catch (err) {
      // The response goes out while the client may still be sending; drop the rest unread.
      body.discardRest();
      throw err;
    }
  });

  return router;
}

function parseUploadQuery(query: unknown): z.infer<typeof uploadQuerySchema> {
  const parsed = uploadQuerySchema.safeParse(query);
  if (parsed.success) return parsed.data;
  const error = zodIssueToError(parsed.error.issues[0]);
  throw validationFailed(
    `${error.message}. Upload with POST /api/datasets?id=<id>&symbol=<symbol>&timeframe=<timeframe>`,
    error.field,
  );
}

function isCompressed(req: Request): boolean {
  const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  const encoding = String(req.headers["content-encoding"] ?? "").toLowerCase();
  if (GZIP_TYPES.has(type)) return true;
  if (PLAIN_TYPES.has(type)) return encoding === "gzip";
  throw validationFailed(
    `Content-Type "${type}" is not accepted for an upload: send the CSV as text/csv, or gzip-compressed as application/gzip`,
    "content-type",
  );
}

/**
 * Feeds the request body into a stream of its own. A failed upload destroys that stream, not the
 * request, so the error response can still be written. `discardRest` then drains what the client
 * still sends instead of buffering it.
 */
function detachBody(req: Request): { stream: PassThrough; discardRest(): void } {
  const stream = new PassThrough();
  const abort = () => {
    if (!req.complete) stream.destroy(Object.assign(new Error("aborted"), { code: "ECONNRESET" }));
  };
  // The upload pipeline reports errors while it reads the stream. A client abort after it has
  // finished (for example after a timeout answered the request) would otherwise be an unhandled
  // stream error and take down the web worker.
  stream.on("error", () => undefined);
  req.once("error", abort);
  req.once("close", abort);
  req.pipe(stream);
  return {
    stream,
    discardRest() {
      req.unpipe(stream);
      req.resume();
    },
  };
}

function toApiError(err: unknown, logger: Logger): unknown {
  if (err instanceof CsvFormatError) return validationFailed(err.message, "body");
  if (!(err instanceof UploadError)) return err;

  switch (err.kind) {
    case "conflict":
      return new ApiError("conflict", err.message, "id");
    case "aborted":
      logger.info({ reason: err.message }, "dataset upload aborted");
      return validationFailed(err.message, "body");
    case "too_large":
    case "invalid":
      return validationFailed(err.message, "body");
  }
}
