import { existsSync, readFileSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";

import { z } from "zod";

import type { GapReport } from "./candle-stream-validator";

/** Folder of uploaded datasets when DATA_DIR is unset, relative to the working directory. */
export const DEFAULT_DATA_DIR = ".data";

/** Dataset ids that users may choose: they name a folder, so they stay lower case and portable. */
export const UPLOAD_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** Name of the metadata file inside each dataset folder. */
export const META_FILE = "meta.json";

/** An uploaded dataset as `GET /api/datasets` lists it. */
export interface UploadedDatasetInfo {
  id: string;
  symbol: string;
  timeframe: string;
  rows: number;
  start: string;
  end: string;
  source: "upload";
  /** The most common interval between rows, in milliseconds; null for a single row. */
  intervalMs: number | null;
  gaps: GapReport;
  /** Size of the body as uploaded, compressed or not. */
  bytes: number;
  compressed: boolean;
  uploadedAt: string;
}

/** The metadata file of an uploaded dataset: its listing plus the name of its candle file. */
export interface UploadedDatasetMeta extends UploadedDatasetInfo {
  file: string;
}

const gapSchema = z.object({ after: z.string(), before: z.string(), missingBars: z.number() });

const metaSchema: z.ZodType<UploadedDatasetMeta> = z.object({
  id: z.string(),
  symbol: z.string(),
  timeframe: z.string(),
  rows: z.number(),
  start: z.string(),
  end: z.string(),
  source: z.literal("upload"),
  intervalMs: z.number().nullable(),
  gaps: z.object({
    count: z.number(),
    missingBars: z.number(),
    largest: z.array(gapSchema),
    estimated: z.boolean().optional(),
  }),
  bytes: z.number(),
  compressed: z.boolean(),
  uploadedAt: z.string(),
  file: z.string().regex(/^candles\.csv(\.gz)?$/),
});

let configuredDirectory: string | undefined;

/** Metadata by id. An uploaded dataset never changes, so an entry never goes stale. */
const metaCache = new Map<string, UploadedDatasetMeta>();

/**
 * Sets DATA_DIR for this process. Processes that do not call it (worker threads, scripts) read
 * DATA_DIR from the environment, which they share with the process that started them.
 */
export function configureDataDirectory(directory: string): void {
  configuredDirectory = path.resolve(directory);
  metaCache.clear();
}

/** Returns the folder that contains one subfolder per uploaded dataset. */
export function uploadsDirectory(): string {
  const dataDir = configuredDirectory ?? path.resolve(process.env["DATA_DIR"]?.trim() || DEFAULT_DATA_DIR);
  return path.join(dataDir, "uploads");
}

export function uploadFolder(id: string): string {
  return path.join(uploadsDirectory(), id);
}

/** Whether an uploaded dataset with this id exists; false for an id that could not be one. */
export function hasUpload(id: string): boolean {
  if (!UPLOAD_ID_PATTERN.test(id)) return false;
  return metaCache.has(id) || existsSync(path.join(uploadFolder(id), META_FILE));
}

/** Reads an uploaded dataset's metadata, or returns undefined when there is no such dataset. */
export function readUploadMetaSync(id: string): UploadedDatasetMeta | undefined {
  const cached = metaCache.get(id);
  if (cached !== undefined || !hasUpload(id)) return cached;
  return remember(readFileSync(path.join(uploadFolder(id), META_FILE), "utf8"));
}

export async function readUploadMeta(id: string): Promise<UploadedDatasetMeta | undefined> {
  const cached = metaCache.get(id);
  if (cached !== undefined || !hasUpload(id)) return cached;
  return remember(await readFile(path.join(uploadFolder(id), META_FILE), "utf8"));
}

/** Path of an uploaded dataset's candle file. */
export function uploadCandleFile(meta: UploadedDatasetMeta): string {
  return path.join(uploadFolder(meta.id), meta.file);
}

/**
 * Lists the uploaded datasets, sorted by id. Folders without a readable metadata file are left
 * out: uploads in progress live in hidden temporary folders until they are complete.
 */
export async function listUploads(): Promise<UploadedDatasetInfo[]> {
  let names: string[];
  try {
    names = await readdir(uploadsDirectory());
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }

  const ids = names.filter((name) => UPLOAD_ID_PATTERN.test(name)).sort();
  const metas = await Promise.all(ids.map((id) => readUploadMeta(id).catch(() => undefined)));
  return metas.filter((meta) => meta !== undefined).map(({ file: _file, ...info }) => info);
}

function remember(text: string): UploadedDatasetMeta {
  const meta = metaSchema.parse(JSON.parse(text));
  metaCache.set(meta.id, meta);
  return meta;
}
