import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { DatasetNotFoundError, hasDataset, listDatasets, loadDataset } from "../../src/data/datasets";
import { configureDataDirectory } from "../../src/data/uploads/upload-store";

describe("dataset registry", () => {
  // An empty data folder of the test's own, so that uploads made by hand in ./.data are not listed.
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "backplane-datasets-"));
  beforeAll(() => configureDataDirectory(dataDir));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it("lists the shipped datasets with their ranges", async () => {
    const datasets = await listDatasets();
    expect(datasets.map((dataset) => dataset.id)).toEqual(["btcusdt-1h", "goog-daily", "btcusdt-1m-2024"]);

    expect(datasets.find((dataset) => dataset.id === "goog-daily")).toEqual({
      id: "goog-daily",
      symbol: "GOOG",
      timeframe: "1d",
      rows: 2148,
      start: "2004-08-19T00:00:00.000Z",
      end: "2013-03-01T00:00:00.000Z",
    });
    expect(datasets.find((dataset) => dataset.id === "btcusdt-1h")).toEqual({
      id: "btcusdt-1h",
      symbol: "BTCUSDT",
      timeframe: "1h",
      rows: 62_482,
      start: "2018-02-09T16:00:00.000Z",
      end: "2025-03-31T17:00:00.000Z",
    });
    expect(datasets.find((dataset) => dataset.id === "btcusdt-1m-2024")).toMatchObject({
      rows: 527_040,
      start: "2024-01-01T00:00:00.000Z",
      end: "2024-12-31T23:59:00.000Z",
    });
  });

  it("reports which ids exist", () => {
    expect(hasDataset("goog-daily")).toBe(true);
    expect(hasDataset("goog")).toBe(false);
  });

  it("loads each dataset once", async () => {
    const [first, second] = await Promise.all([loadDataset("goog-daily"), loadDataset("goog-daily")]);
    expect(first).toBe(second);
    expect(await loadDataset("goog-daily")).toBe(first);
    expect(first.close[0]).toBe(100.34);
  });

  it("rejects an unknown id", async () => {
    await expect(loadDataset("eurusd")).rejects.toBeInstanceOf(DatasetNotFoundError);
    await expect(loadDataset("eurusd")).rejects.toThrow(/"eurusd" not found: use one of btcusdt-1h, goog-daily/);
  });
});
