import { describe, expect, it } from "vitest";

import { ApiError } from "../../src/web/errors";
import {
  MAX_SWEEP_COMBINATIONS,
  type SweepRequest,
  combinationAt,
  gridAxes,
  parseSweepRequest,
  planChunks,
} from "../../src/queues/sweep-request";
import { type ChunkResult, buildHeatmap, mergeBest, rankResults, summarizeSweep } from "../../src/queues/sweep-results";

const BASE = { dataset: "goog-daily", strategy: "sma-cross" };

function parse(body: unknown): SweepRequest {
  const parsed = parseSweepRequest(body);
  if (parsed instanceof ApiError) throw parsed;
  return parsed;
}

function rejection(body: unknown): ApiError {
  const parsed = parseSweepRequest(body);
  if (!(parsed instanceof ApiError)) throw new Error("expected the request to be rejected");
  return parsed;
}

/** A chunk result over stats ["sharpe", "trades"], with null rows for invalid combinations. */
function chunk(first: number, rows: ([number | null, number] | null)[]): ChunkResult {
  return {
    chunk: first,
    first,
    count: rows.length,
    stats: ["sharpe", "trades"],
    rows,
    invalid: rows.filter((row) => row === null).length,
    invalidExamples: rows.flatMap((row, i) =>
      row === null ? [{ index: first + i, reason: "fast must be less than slow" }] : [],
    ),
  };
}

describe("sweep grid", () => {
  it("expands ranges and lists in request order", () => {
    const request = parse({
      ...BASE,
      grid: { fast: { from: 5, to: 7, step: 1 }, slow: [20, 30], scale: { from: 0.1, to: 0.3, step: 0.1 } },
    });
    const axes = gridAxes(request);
    expect(axes).toEqual([
      { name: "fast", values: [5, 6, 7] },
      { name: "slow", values: [20, 30] },
      { name: "scale", values: [0.1, 0.2, 0.3] },
    ]);
    expect(combinationAt(axes, 0)).toEqual({ fast: 5, slow: 20, scale: 0.1 });
    expect(combinationAt(axes, 1)).toEqual({ fast: 5, slow: 20, scale: 0.2 });
    expect(combinationAt(axes, 3)).toEqual({ fast: 5, slow: 30, scale: 0.1 });
    expect(combinationAt(axes, 17)).toEqual({ fast: 7, slow: 30, scale: 0.3 });
    expect(Object.keys(combinationAt(axes, 5))).toEqual(["fast", "slow", "scale"]);
  });

  it("fills defaults", () => {
    expect(parse({ ...BASE, grid: { fast: [5] } })).toMatchObject({
      rankBy: "sharpe",
      order: "desc",
      params: {},
      cash: 10_000,
    });
  });

  it("rejects invalid grids with the field", () => {
    const cases: { name: string; body: unknown; field: string | undefined; message: RegExp }[] = [
      { name: "empty grid", body: { ...BASE, grid: {} }, field: "grid", message: /grid is empty/ },
      { name: "missing grid", body: { ...BASE }, field: "grid", message: /invalid/ },
      {
        name: "range from above to",
        body: { ...BASE, grid: { fast: { from: 9, to: 5, step: 1 } } },
        field: "grid.fast",
        message: /from must not be greater than to/,
      },
      {
        name: "zero step",
        body: { ...BASE, grid: { fast: { from: 1, to: 5, step: 0 } } },
        field: "grid.fast.step",
        message: /invalid/,
      },
      { name: "empty list", body: { ...BASE, grid: { fast: [] } }, field: "grid.fast", message: /invalid/ },
      {
        name: "too many combinations",
        body: { ...BASE, grid: { fast: { from: 1, to: 400, step: 1 }, slow: { from: 1, to: 300, step: 1 } } },
        field: "grid",
        message: new RegExp(`120000 combinations; a sweep runs at most ${MAX_SWEEP_COMBINATIONS}`),
      },
      {
        name: "a parameter in params and grid",
        body: { ...BASE, params: { fast: 5 }, grid: { fast: [5, 6] } },
        field: "grid.fast",
        message: /both in params and in grid/,
      },
      {
        name: "an unknown rankBy",
        body: { ...BASE, grid: { fast: [5] }, rankBy: "luck" },
        field: "rankBy",
        message: /invalid/,
      },
      {
        name: "pacing",
        body: { ...BASE, grid: { fast: [5] }, barsPerSecond: 10 },
        field: "barsPerSecond",
        message: /unknown field/,
      },
      { name: "an array body", body: [], field: undefined, message: /must be a JSON object/ },
    ];
    for (const testCase of cases) {
      const error = rejection(testCase.body);
      expect(error.field, testCase.name).toBe(testCase.field);
      expect(error.message, testCase.name).toMatch(testCase.message);
    }
  });

  it("plans chunks that cover every combination once", () => {
    for (const [total, rows] of [
      [66, 2_148],
      [88, 62_482],
      [100_000, 2_148],
      [7, 527_040],
      [1, 10],
    ] as const) {
      const chunks = planChunks(total, rows);
      expect(chunks.reduce((sum, part) => sum + part.count, 0)).toBe(total);
      chunks.forEach((part, i) => {
        expect(part.chunk).toBe(i);
        expect(part.first).toBe(i === 0 ? 0 : (chunks[i - 1]?.first ?? 0) + (chunks[i - 1]?.count ?? 0));
      });
      expect(chunks.length).toBeLessThanOrEqual(2_000);
      if (total >= 8) expect(chunks.length).toBeGreaterThanOrEqual(8);
    }
    // About a second of work per chunk on a large dataset: 4,000,000 bar-steps.
    expect(planChunks(1_000, 527_040)[0]?.count).toBe(7);
  });
});

describe("sweep ranking", () => {
  const request = parse({ ...BASE, grid: { fast: [5, 6], slow: [10, 20, 30] } });
  const axes = gridAxes(request);
  const results = [
    chunk(3, [[0.9, 4], null, [0.5, 3]]),
    chunk(0, [
      [0.5, 2],
      [null, 0],
      [1.2, 5],
    ]),
  ];

  it("ranks by the statistic with nulls last and ties by index", () => {
    const ranking = rankResults(results, axes, "sharpe", "desc", 10);
    expect(ranking.map((entry) => entry.index)).toEqual([2, 3, 0, 5, 1]);
    expect(ranking[0]).toEqual({ index: 2, params: { fast: 5, slow: 30 }, stats: { sharpe: 1.2, trades: 5 } });
    expect(rankResults(results, axes, "sharpe", "asc", 10).map((entry) => entry.index)).toEqual([0, 5, 3, 2, 1]);
    expect(rankResults(results, axes, "sharpe", "desc", 2).map((entry) => entry.index)).toEqual([2, 3]);
  });

  it("merges best lists without null values", () => {
    const current = rankResults([results[1] as ChunkResult], axes, "sharpe", "desc", 5);
    const added = rankResults([results[0] as ChunkResult], axes, "sharpe", "desc", 5);
    expect(mergeBest(current, added, "sharpe", "desc", 3).map((entry) => entry.index)).toEqual([2, 3, 0]);
  });

  it("summarizes counts and invalid examples", () => {
    const summary = summarizeSweep(request, axes, results);
    expect(summary).toMatchObject({ rankBy: "sharpe", order: "desc", combinations: 6, evaluated: 5, invalid: 1 });
    expect(summary.invalidExamples).toEqual([{ params: { fast: 6, slow: 20 }, reason: "fast must be less than slow" }]);
    expect(summary.ranking).toHaveLength(5);
  });

  it("builds a heatmap with null cells", () => {
    const outcome = buildHeatmap(request, axes, results, { x: "slow", y: "fast" });
    expect(outcome).toEqual({
      status: "ok",
      heatmap: {
        stat: "sharpe",
        params: { x: "slow", y: "fast" },
        x: [10, 20, 30],
        y: [5, 6],
        z: [
          [0.5, null, 1.2],
          [0.9, null, 0.5],
        ],
      },
    });
    const trades = buildHeatmap(request, axes, results, { x: "fast", y: "slow", stat: "trades" });
    expect(trades.status === "ok" && trades.heatmap.z).toEqual([
      [2, 4],
      [0, null],
      [5, 3],
    ]);
  });

  it("aggregates other parameters by max", () => {
    const three = parse({ ...BASE, grid: { fast: [5, 6], slow: [10, 20], scale: [1, 2] } });
    const threeAxes = gridAxes(three);
    const rows = chunk(0, [[0.1, 1], [0.7, 1], [0.3, 1], null, [null, 0], [-0.2, 1], [0.4, 1], [0.2, 1]]);
    const outcome = buildHeatmap(three, threeAxes, [rows], { x: "fast", y: "slow" });
    if (outcome.status !== "ok") throw new Error(outcome.status);
    expect(outcome.heatmap.aggregate).toEqual({ method: "max", over: ["scale"] });
    expect(outcome.heatmap.z).toEqual([
      [0.7, -0.2],
      [0.3, 0.4],
    ]);
  });

  it("rejects unknown axes and statistics", () => {
    expect(buildHeatmap(request, axes, results, { x: "fast", y: "nope" })).toMatchObject({
      status: "invalid",
      field: "y",
    });
    expect(buildHeatmap(request, axes, results, { x: "fast", y: "fast" })).toMatchObject({
      status: "invalid",
      field: "y",
    });
    expect(buildHeatmap(request, axes, results, { x: "fast", y: "slow", stat: "luck" })).toMatchObject({
      status: "invalid",
      field: "stat",
    });
  });
});
