import { existsSync } from "node:fs";
import path from "node:path";

import { type Candles, isoTime } from "./candles";
import { loadCandleCsv } from "./csv";

/** A dataset shipped in the repository's `data/` folder. */
export interface DatasetDefinition {
  id: string;
  /** File name inside `data/`. */
  file: string;
  symbol: string;
  /** Candle interval, such as `1m`, `1h` or `1d`. */
  timeframe: string;
}

/** A dataset as `GET /api/datasets` lists it, with figures read from the loaded file. */
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
    super(`Dataset "${id}" not found: use one of ${DATASETS.map((dataset) => dataset.id).join(", ")}`);
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

export function hasDataset(id: string): boolean {
  return DATASETS.some((dataset) => dataset.id === id);
}

/**
 * Loads a shipped dataset, parsing its file once per process. Throws `DatasetNotFoundError` for an
 * unknown id. A failed load is not cached, so a later call tries again.
 */
export function loadDataset(id: string): Promise<Candles> {
  const definition = DATASETS.find((dataset) => dataset.id === id);
  if (definition === undefined) return Promise.reject(new DatasetNotFoundError(id));

  let pending = cache.get(id);
  if (pending === undefined) {
    pending = loadCandleCsv(path.join(datasetDirectory(), definition.file));
    cache.set(id, pending);
    pending.catch(() => cache.delete(id));
  }
  return pending;
}

/**
 * Lists the shipped datasets with their row counts and time ranges. The first call reads and
 * parses every file, and later calls reuse the figures. Listing keeps no candles in memory beyond
 * those that `loadDataset` has already cached.
 */
export async function listDatasets(): Promise<DatasetInfo[]> {
  return Promise.all(DATASETS.map((definition) => datasetInfo(definition)));
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
