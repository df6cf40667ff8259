import { z } from "zod";

import { RESAMPLE_TIMEFRAMES } from "../data/resample";
import { validationFailed, type ApiError } from "../web/errors";

/** Upper bound of `barsPerSecond`; above it pacing would not be noticeable anyway. */
const MAX_BARS_PER_SECOND = 10_000_000;

export const backtestRequestSchema = z
  .object({
    dataset: z.string().min(1).max(200),
    strategy: z.string().min(1).max(200),
    params: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])).default({}),
    cash: z.number().positive().finite().default(10_000),
    commission: z.number().min(0).max(0.5).default(0),
    fractional: z.boolean().default(false),
    closeAtEnd: z.boolean().default(true),
    barsPerSecond: z.number().positive().max(MAX_BARS_PER_SECOND).optional(),
    /** Aggregate the dataset's candles to this interval before the run. */
    resample: z.enum(RESAMPLE_TIMEFRAMES).optional(),
  })
  .strict();

/** A backtest request after validation, with its defaults filled in. */
export type BacktestRequest = z.infer<typeof backtestRequestSchema>;

/**
 * Validates a request body and returns it with defaults, or the first problem as a
 * `validation_failed` error that names the field.
 */
export function parseBacktestRequest(body: unknown): BacktestRequest | ApiError {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return validationFailed(
      `the request body must be a JSON object like {"dataset":"btcusdt-1h","strategy":"sma-cross","params":{"fast":10,"slow":30}}, got ${describeType(body)}`,
    );
  }

  const parsed = backtestRequestSchema.safeParse(body);
  if (parsed.success) return parsed.data;

  return zodIssueToError(parsed.error.issues[0]);
}

export function zodIssueToError(issue: z.core.$ZodIssue | undefined): ApiError {
  if (issue === undefined) return validationFailed("the request is invalid");

  if (issue.code === "unrecognized_keys") {
    const keys = issue.keys.join(", ");
    return validationFailed(`unknown field(s) ${keys}; remove them`, issue.keys[0]);
  }

  const field = issue.path.map(String).join(".");
  const where = field === "" ? "the request" : `field "${field}"`;
  return validationFailed(`${where} is invalid: ${issue.message}`, field === "" ? undefined : field);
}

function describeType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value;
}
