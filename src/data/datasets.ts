import { existsSync } from "node:fs";
import path from "node:path";

import { type Candles, isoTime } from "./candles";
import { loadCandleCsv } from "./csv";
import { resampleChecked, timeframeMs } from "./resample";
import { type UploadedDatasetInfo, hasUpload, listUploads, readUploadMeta, readUploadMetaSync, uploadCandleFile } from "./uploads/upload-store";

/** A dataset shipped in the repository's `data/` folder. */
export interface DatasetDefinition {
  id: string;
  /** File name inside `data/`. */
  file: string;
  symbol: string;
  /** Candle interval, such as `1m`, `1h` or `1d`. */
  timeframe: string;
}

/** A shipped dataset as `GET /api/datasets` lists it, with figures read from the loaded file. */
export interface DatasetInfo {
  id: string;
  symbol: string;
  timeframe: string;
  rows: number;
  /** Open time of the first candle, ISO 8601 UTC. */
  start: string;
  /** Open time of the last candle, ISO 8601 UTC. */
  end: string;
}

/** An unknown dataset id. */
export class DatasetNotFoundError extends Error {
  override readonly name = "DatasetNotFoundError";

  constructor(readonly id: string) {
    super(`Dataset "${id}" not found: use one of ${DATASETS.map((dataset) => dataset.id).join(", ")} or an uploaded dataset's id`);
  }
}

const DATASETS: readonly DatasetDefinition[] = [
  { id: "btcusdt-1h", file: "BTCUSDT-1h-2018-2025.csv.gz", symbol: "BTCUSDT", timeframe: "1h" },
  { id: "goog-daily", file: "GOOG-daily-2004-2013.csv", symbol: "GOOG", timeframe: "1d" },
  { id: "btcusdt-1m-2024", file: "BTCUSDT-1m-2024.csv.gz", symbol: "BTCUSDT", timeframe: "1m" },
];

/** One promise per dataset id, so concurrent requests share a single read and parse. */
const cache = new Map<string, Promise<Candles>>();

/** Listing figures per dataset id, kept apart from `cache` so that listing does not pin the candles in memory. */
const infoCache = new Map<string, Promise<DatasetInfo>>();

let dataDirectory: string | undefined;

/**
 * Locates the repository's `data/` folder by walking up from this file to the folder that contains
 * package.json. This works from `src/data` (tests run the TypeScript directly) and from
 * `dist/src/data` (compiled).
 */
export function datasetDirectory(): string {
  if (dataDirectory !== undefined) return dataDirectory;

  let directory = __dirname;
  while (!existsSync(path.join(directory, "package.json"))) {
    const parent = path.dirname(directory);
    if (parent === directory) {
      throw new Error(`Dataset folder not found: no package.json above ${__dirname}, so data/ cannot be located`);
    }
    directory = parent;
  }
  dataDirectory = path.join(directory, "data");
  return dataDirectory;
}

/** Returns the definitions of the shipped datasets, in listing order. */
export function datasetDefinitions(): readonly DatasetDefinition[] {
  return DATASETS;
}

/** Returns whether a shipped or uploaded dataset has this id. */
export function hasDataset(id: string): boolean {
  return isShipped(id) || hasUpload(id);
}

export function isShipped(id: string): boolean {
  return DATASETS.some((dataset) => dataset.id === id);
}

/**
 * Loads a shipped or uploaded dataset, parsing its file once per process. Throws
 * `DatasetNotFoundError` for an unknown id. A failed load is not cached, so a later call tries
 * again.
 * NOTE: parsed candles stay cached for the life of the process, uploaded ones included. A
 * process that serves many large uploads grows by about 48 bytes per row of each one it loads.
 */
export function loadDataset(id: string): Promise<Candles> {
  let pending = cache.get(id);
  if (pending === undefined) {
    pending = readDatasetFile(id);
    cache.set(id, pending);
    pending.catch(() => cache.delete(id));
  }
  return pending;
}

async function readDatasetFile(id: string): Promise<Candles> {
  const definition = DATASETS.find((dataset) => dataset.id === id);
  if (definition !== undefined) return loadCandleCsv(path.join(datasetDirectory(), definition.file));

  const meta = await readUploadMeta(id);
  if (meta === undefined) throw new DatasetNotFoundError(id);
  return loadCandleCsv(uploadCandleFile(meta));
}

/** Resampled candles by `<id>@<timeframe>`; a few at most, since only five targets exist. */
const resampledCache = new Map<string, Promise<Candles>>();

/**
 * Loads a dataset as `loadDataset` does and, with `resample`, aggregates it to that timeframe
 * (see `resampleCandles`), once per process and target. Throws `EngineInputError` on field
 * `resample` when the target is not supported or shorter than the dataset's interval.
 */
export function loadCandles(id: string, resample?: string): Promise<Candles> {
  if (resample === undefined) return loadDataset(id);

  const key = `${id}@${resample}`;
  let pending = resampledCache.get(key);
  if (pending === undefined) {
    pending = loadDataset(id).then((candles) => resampleChecked(candles, datasetIntervalMs(id) ?? 0, resample));
    resampledCache.set(key, pending);
    pending.catch(() => resampledCache.delete(key));
  }
  return pending;
}

/**
 * Returns the bar interval of a dataset in milliseconds: the declared timeframe of a shipped one, the
 * measured modal interval of an uploaded one. Undefined for an unknown id.
 */
export function datasetIntervalMs(id: string): number | undefined {
  const definition = DATASETS.find((dataset) => dataset.id === id);
  if (definition !== undefined) return timeframeMs(definition.timeframe);

  const meta = readUploadMetaSync(id);
  if (meta === undefined) return undefined;
  return meta.intervalMs ?? timeframeMs(meta.timeframe);
}

/** Returns the number of rows of a dataset from its listing figures, or undefined for an unknown id. */
export async function datasetRows(id: string): Promise<number | undefined> {
  const definition = DATASETS.find((dataset) => dataset.id === id);
  if (definition !== undefined) return (await datasetInfo(definition)).rows;
  return (await readUploadMeta(id))?.rows;
}

/**
 * Lists the shipped datasets, then the uploaded ones, with their row counts and time ranges. The
 * first call reads and parses every shipped file, and later calls reuse the figures. The uploads
 * folder is read anew on each call, so that uploads through other processes appear. Listing keeps no candles in memory beyond those that `loadDataset` has
 * already cached.
 */
export async function listDatasets(): Promise<(DatasetInfo | UploadedDatasetInfo)[]> {
  const [shipped, uploaded] = await Promise.all([Promise.all(DATASETS.map((definition) => datasetInfo(definition))), listUploads()]);
  return [...shipped, ...uploaded];
}

function datasetInfo(definition: DatasetDefinition): Promise<DatasetInfo> {
  let pending = infoCache.get(definition.id);
  if (pending === undefined) {
    const candles = cache.get(definition.id) ?? loadCandleCsv(path.join(datasetDirectory(), definition.file));
    pending = candles.then((loaded) => describe(definition, loaded));
    infoCache.set(definition.id, pending);
    pending.catch(() => infoCache.delete(definition.id));
  }
  return pending;
}

function describe(definition: DatasetDefinition, candles: Candles): DatasetInfo {
  return {
    id: definition.id,
    symbol: definition.symbol,
    timeframe: definition.timeframe,
    rows: candles.length,
    start: isoTime(candles.time[0] as number),
    end: isoTime(candles.time[candles.length - 1] as number),
  };
}
