import type { ErrorBody, SweepEntry, SweepInvalidExample, SweepSummary } from "../hubs/backtest-events";
import {
  type GridAxis,
  type ParamValue,
  type SweepRequest,
  combinationAt,
  combinationDigits,
  combinationCount,
} from "./sweep-request";

/** Combinations in the `best` list of sweep progress events. */
export const BEST_SIZE = 5;

/** Combinations in the final ranking of a sweep's result. */
export const RANKING_SIZE = 100;

/** Rejected combinations kept per chunk, and in a sweep's summary. */
const INVALID_EXAMPLES = 5;

/** The outcome of one chunk of a sweep, as a thread or a job process reports it. */
export interface ChunkResult {
  chunk: number;
  first: number;
  count: number;
  /** Names of the numeric statistics, in the order of each row. */
  stats: string[];
  /** One row per combination: statistics in `stats` order, or null when the strategy rejected it. */
  rows: ((number | null)[] | null)[];
  invalid: number;
  /** The first rejected combinations of the chunk, at most five. */
  invalidExamples: { index: number; reason: string }[];
}

/** Ranks a value for `order`: null (an undefined statistic) goes last, ties go to the lower index. */
function compare(
  a: { value: number | null; index: number },
  b: { value: number | null; index: number },
  order: SweepRequest["order"],
): number {
  if (a.value === null || b.value === null) {
    if (a.value === b.value) return a.index - b.index;
    return a.value === null ? 1 : -1;
  }
  if (a.value !== b.value) return order === "desc" ? b.value - a.value : a.value - b.value;
  return a.index - b.index;
}

function entryAt(result: ChunkResult, offset: number, axes: readonly GridAxis[]): SweepEntry | undefined {
  const row = result.rows[offset];
  if (row === null || row === undefined) return undefined;
  const stats: Record<string, number | null> = {};
  result.stats.forEach((name, i) => (stats[name] = row[i] ?? null));
  const index = result.first + offset;
  return { index, params: combinationAt(axes, index), stats };
}

/** Returns the best `limit` combinations among `results`, best first. */
export function rankResults(
  results: readonly ChunkResult[],
  axes: readonly GridAxis[],
  rankBy: string,
  order: SweepRequest["order"],
  limit: number,
): SweepEntry[] {
  const candidates: { value: number | null; index: number; result: ChunkResult; offset: number }[] = [];
  for (const result of results) {
    const column = result.stats.indexOf(rankBy);
    result.rows.forEach((row, offset) => {
      if (row === null) return;
      candidates.push({
        value: column === -1 ? null : (row[column] ?? null),
        index: result.first + offset,
        result,
        offset,
      });
    });
  }
  candidates.sort((a, b) => compare(a, b, order));
  return candidates.slice(0, limit).map((candidate) => entryAt(candidate.result, candidate.offset, axes) as SweepEntry);
}

/** Merges two best-first lists into the best `limit`, as progress events carry them. */
export function mergeBest(
  current: readonly SweepEntry[],
  added: readonly SweepEntry[],
  rankBy: string,
  order: SweepRequest["order"],
  limit = BEST_SIZE,
): SweepEntry[] {
  const valueOf = (entry: SweepEntry) => ({ value: entry.stats[rankBy] ?? null, index: entry.index });
  return [...current, ...added]
    .filter((entry) => entry.stats[rankBy] !== null && entry.stats[rankBy] !== undefined)
    .sort((a, b) => compare(valueOf(a), valueOf(b), order))
    .slice(0, limit);
}

/** Sums up a finished sweep: counts, rejected examples and the ranking. */
export function summarizeSweep(
  request: SweepRequest,
  axes: readonly GridAxis[],
  results: readonly ChunkResult[],
): SweepSummary {
  const ordered = [...results].sort((a, b) => a.first - b.first);
  let evaluated = 0;
  let invalid = 0;
  const invalidExamples: SweepInvalidExample[] = [];
  for (const result of ordered) {
    evaluated += result.count - result.invalid;
    invalid += result.invalid;
    for (const example of result.invalidExamples) {
      if (invalidExamples.length < INVALID_EXAMPLES)
        invalidExamples.push({ params: combinationAt(axes, example.index), reason: example.reason });
    }
  }
  return {
    rankBy: request.rankBy,
    order: request.order,
    combinations: combinationCount(axes),
    evaluated,
    invalid,
    invalidExamples,
    ranking: rankResults(ordered, axes, request.rankBy, request.order, RANKING_SIZE),
  };
}

/** Builds the error of a sweep in which the strategy rejected every combination. */
export function noValidCombination(summary: SweepSummary): ErrorBody {
  const example = summary.invalidExamples[0];
  const reason = example === undefined ? "" : ` The first was ${JSON.stringify(example.params)}: ${example.reason}`;
  return {
    code: "validation_failed",
    message: `none of the ${summary.combinations} combinations of the grid is valid for this strategy and dataset.${reason} Change the grid.`,
    field: "grid",
  };
}

export interface HeatmapQuery {
  x: string;
  y: string;
  /** Statistic of the cells. Default: the sweep's rankBy. */
  stat?: string;
}

/** A statistic over two grid parameters, ready for a heatmap chart. */
export interface Heatmap {
  stat: string;
  /** The grid parameters on each axis. */
  params: { x: string; y: string };
  /** Values of the x parameter, one per column. */
  x: ParamValue[];
  /** Values of the y parameter, one per row. */
  y: ParamValue[];
  /** `z[row][column]`: the statistic at y[row], x[column]; null where no backtested combination has a value. */
  z: (number | null)[][];
  /** Present when the grid varies more parameters: each cell is the maximum over them. */
  aggregate?: { method: "max"; over: string[] };
}

export type HeatmapOutcome =
  { status: "ok"; heatmap: Heatmap } | { status: "invalid"; message: string; field: string } | { status: "not_found" };

/** Builds the heatmap of `query.stat` over the grid parameters `query.x` and `query.y`. */
export function buildHeatmap(
  request: SweepRequest,
  axes: readonly GridAxis[],
  results: readonly ChunkResult[],
  query: HeatmapQuery,
): HeatmapOutcome {
  const names = axes.map((axis) => axis.name);
  const xAxis = names.indexOf(query.x);
  const yAxis = names.indexOf(query.y);
  for (const [field, position] of [
    ["x", xAxis],
    ["y", yAxis],
  ] as const) {
    if (position === -1)
      return {
        status: "invalid",
        message: `${field}="${query[field]}" is not a grid parameter of this sweep: use one of ${names.join(", ")}`,
        field,
      };
  }
  if (xAxis === yAxis)
    return { status: "invalid", message: "x and y name the same grid parameter: pick two different ones", field: "y" };

  const stat = query.stat ?? request.rankBy;
  const known = results.find((result) => result.stats.length > 0)?.stats;
  if (known !== undefined && !known.includes(stat)) {
    return {
      status: "invalid",
      message: `stat "${stat}" is not a numeric statistic: use one of ${known.join(", ")}`,
      field: "stat",
    };
  }

  const xValues = (axes[xAxis] as GridAxis).values;
  const yValues = (axes[yAxis] as GridAxis).values;
  const z = yValues.map(() => xValues.map((): number | null => null));
  for (const result of results) {
    const column = result.stats.indexOf(stat);
    if (column === -1) continue;
    result.rows.forEach((row, offset) => {
      const value = row?.[column];
      if (value === null || value === undefined) return;
      const digits = combinationDigits(axes, result.first + offset);
      const cells = z[digits[yAxis] as number] as (number | null)[];
      const cell = cells[digits[xAxis] as number] ?? null;
      if (cell === null || value > cell) cells[digits[xAxis] as number] = value;
    });
  }

  const heatmap: Heatmap = { stat, params: { x: query.x, y: query.y }, x: xValues, y: yValues, z };
  const over = names.filter((name) => name !== query.x && name !== query.y);
  if (over.length > 0) heatmap.aggregate = { method: "max", over };
  return { status: "ok", heatmap };
}
