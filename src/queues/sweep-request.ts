import { z } from "zod";

import type { EngineStats } from "../engine";
import { type ApiError, validationFailed } from "../web/errors";
import { type BacktestRequest, backtestRequestSchema, zodIssueToError } from "./backtest-request";

/** Largest number of combinations in one sweep; a larger grid is rejected before anything runs. */
export const MAX_SWEEP_COMBINATIONS = 100_000;

/** Largest number of parameters a grid may vary. */
export const MAX_GRID_PARAMS = 8;

/**
 * Statistics a sweep can rank by. A renamed statistic breaks the build here.
 * NOTE: a statistic that the engine adds is not rankable until it is listed.
 */
export const RANKABLE_STATS = [
  "sharpe",
  "sortino",
  "calmar",
  "returnPct",
  "returnAnnPct",
  "cagrPct",
  "equityFinal",
  "equityPeak",
  "buyHoldReturnPct",
  "volatilityAnnPct",
  "alphaPct",
  "beta",
  "maxDrawdownPct",
  "avgDrawdownPct",
  "maxDrawdownDurationDays",
  "avgDrawdownDurationDays",
  "exposurePct",
  "commissions",
  "trades",
  "winRatePct",
  "bestTradePct",
  "worstTradePct",
  "avgTradePct",
  "maxTradeDurationDays",
  "avgTradeDurationDays",
  "profitFactor",
  "expectancyPct",
  "sqn",
  "kelly",
  "durationDays",
] as const satisfies readonly (keyof EngineStats)[];

export type ParamValue = number | string | boolean;

const rangeSchema = z
  .object({
    from: z.number().finite(),
    to: z.number().finite(),
    step: z.number().positive().finite(),
  })
  .strict()
  .refine((range) => range.from <= range.to, "from must not be greater than to");

const axisSchema = z.union([
  rangeSchema,
  z
    .array(z.union([z.number().finite(), z.string().max(200), z.boolean()]))
    .min(1)
    .max(MAX_SWEEP_COMBINATIONS),
]);

/**
 * A sweep: the fields of a backtest request, except the pacing, plus the grid of parameters to
 * vary and the statistic that ranks the combinations. `params` contains the parameters that stay fixed.
 */
export const sweepRequestSchema = backtestRequestSchema
  .omit({ barsPerSecond: true })
  .extend({
    grid: z.record(z.string().min(1).max(100), axisSchema),
    rankBy: z.enum(RANKABLE_STATS).default("sharpe"),
    order: z.enum(["desc", "asc"]).default("desc"),
  })
  .strict();

export type SweepRequest = z.infer<typeof sweepRequestSchema>;

/** One varied parameter and its values, in grid order. */
export interface GridAxis {
  name: string;
  values: ParamValue[];
}

/**
 * Validates a sweep body and returns it with defaults, or the first problem as a
 * `validation_failed` error naming the field. Grid sizes are checked too; strategy-specific
 * checks follow in `checkSweepInput`.
 */
export function parseSweepRequest(body: unknown): SweepRequest | ApiError {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return validationFailed(
      'the request body must be a JSON object like {"dataset":"goog-daily","strategy":"sma-cross","grid":{"fast":{"from":5,"to":10,"step":1},"slow":[20,30]}}',
    );
  }
  const parsed = sweepRequestSchema.safeParse(body);
  if (!parsed.success) return zodIssueToError(parsed.error.issues[0]);

  const request = parsed.data;
  const names = Object.keys(request.grid);
  if (names.length === 0) return validationFailed("grid is empty: give at least one parameter with its values", "grid");
  if (names.length > MAX_GRID_PARAMS) {
    return validationFailed(`grid varies ${names.length} parameters; at most ${MAX_GRID_PARAMS} are allowed`, "grid");
  }
  for (const name of names) {
    if (name in request.params) {
      return validationFailed(
        `parameter "${name}" is both in params and in grid; keep it in one of them`,
        `grid.${name}`,
      );
    }
    const size = axisSize(request.grid[name] as SweepRequest["grid"][string]);
    if (size > MAX_SWEEP_COMBINATIONS) {
      return validationFailed(
        `grid.${name} has ${size} values; a sweep runs at most ${MAX_SWEEP_COMBINATIONS} combinations`,
        `grid.${name}`,
      );
    }
  }

  const total = combinationCount(gridAxes(request));
  if (total > MAX_SWEEP_COMBINATIONS) {
    return validationFailed(
      `the grid has ${total} combinations; a sweep runs at most ${MAX_SWEEP_COMBINATIONS}, so narrow a range or raise its step`,
      "grid",
    );
  }
  return request;
}

function axisSize(axis: SweepRequest["grid"][string]): number {
  if (Array.isArray(axis)) return axis.length;
  // The small tolerance keeps `to` when (to - from) / step lands just below a whole number.
  return Math.floor((axis.to - axis.from) / axis.step + 1e-9) + 1;
}

/** Expands the grid into its axes, in the order the request lists them. */
export function gridAxes(request: Pick<SweepRequest, "grid">): GridAxis[] {
  return Object.entries(request.grid).map(([name, axis]) => {
    if (Array.isArray(axis)) return { name, values: [...axis] };
    const values: number[] = [];
    const size = axisSize(axis);
    // Rounding to 12 significant digits keeps 0.1 + 2 × 0.1 at 0.3 instead of 0.30000000000000004.
    for (let i = 0; i < size; i++) values.push(Number((axis.from + i * axis.step).toPrecision(12)));
    return { name, values };
  });
}

export function combinationCount(axes: readonly GridAxis[]): number {
  return axes.reduce((count, axis) => count * axis.values.length, 1);
}

/** Returns the values of combination `index`, in axis order. The last axis varies fastest. */
export function combinationAt(axes: readonly GridAxis[], index: number): Record<string, ParamValue> {
  const digits = combinationDigits(axes, index);
  const params: Record<string, ParamValue> = {};
  axes.forEach((axis, a) => (params[axis.name] = axis.values[digits[a] as number] as ParamValue));
  return params;
}

/** Position of each axis's value in combination `index`, in axis order. */
export function combinationDigits(axes: readonly GridAxis[], index: number): number[] {
  const digits = new Array<number>(axes.length);
  let rest = index;
  for (let a = axes.length - 1; a >= 0; a--) {
    const size = (axes[a] as GridAxis).values.length;
    digits[a] = rest % size;
    rest = Math.floor(rest / size);
  }
  return digits;
}

/** Builds the backtest request that runs one combination of a sweep. */
export function combinationRequest(request: SweepRequest, params: Record<string, ParamValue>): BacktestRequest {
  const { grid: _grid, rankBy: _rankBy, order: _order, ...backtest } = request;
  return { ...backtest, params: { ...request.params, ...params } };
}

/** One slice of a sweep's combinations, run as a unit by a job process or a thread. */
export interface SweepChunk {
  /** Position of the chunk in the sweep, from 0. */
  chunk: number;
  /** Index of its first combination. */
  first: number;
  count: number;
}

export interface ChunkPlanOptions {
  /** Bar-steps one chunk may take (rows × combinations), so a chunk lasts about a second. Default 4,000,000. */
  barBudget?: number;
  /** Minimum number of chunks of a sweep with at least that many combinations, so every process or thread gets a share. Default 8. */
  minChunks?: number;
  /** Most chunks of one sweep, which bounds the jobs it creates. Default 2,000. */
  maxChunks?: number;
}

/**
 * Splits `total` combinations over a dataset of `rows` bars into chunks: each about a second of
 * work on one core, at least `minChunks` of them so that every job process or thread gets a
 * share, and no more than `maxChunks`.
 */
export function planChunks(total: number, rows: number, options: ChunkPlanOptions = {}): SweepChunk[] {
  const barBudget = options.barBudget ?? 4_000_000;
  const minChunks = options.minChunks ?? 8;
  const maxChunks = options.maxChunks ?? 2_000;

  const bySpeed = Math.max(1, Math.floor(barBudget / Math.max(1, rows)));
  const bySpread = Math.ceil(total / minChunks);
  const byCount = Math.ceil(total / maxChunks);
  const size = Math.max(byCount, Math.min(bySpeed, bySpread), 1);

  const chunks: SweepChunk[] = [];
  for (let first = 0; first < total; first += size) {
    chunks.push({ chunk: chunks.length, first, count: Math.min(size, total - first) });
  }
  return chunks;
}
