import { z } from "zod";

import { RESAMPLE_TIMEFRAMES } from "../data/resample";
import { type BrokerOptionsInput, DEFAULT_BROKER_OPTIONS, MAX_FRACTION } from "../engine/broker-options";
import { validationFailed, type ApiError } from "../web/errors";

/** Upper bound of `barsPerSecond`; above it pacing would not be noticeable anyway. */
const MAX_BARS_PER_SECOND = 10_000_000;

/** A fee as a fraction of the traded value, per fill. */
const feeRate = z.number().min(0).max(MAX_FRACTION);
const cashAmount = z.number().min(0).finite();

/** The engine's three forms of commission; the engine's `resolveBrokerOptions` checks them again. */
const commissionSchema = z.union(
  [
    feeRate,
    z.object({ fixed: cashAmount.optional(), rate: feeRate.optional() }).strict(),
    z.object({ perUnit: cashAmount }).strict(),
  ],
  { error: `expected a fraction from 0 to ${MAX_FRACTION} such as 0.001, {"fixed":1,"rate":0.001} or {"perUnit":2}` },
);

const sizingSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("equity"), fraction: z.number().gt(0).max(1) }).strict(),
  z.object({ type: z.literal("fixed"), units: z.number().positive().finite() }).strict(),
]);

export const backtestRequestSchema = z
  .object({
    dataset: z.string().min(1).max(200),
    strategy: z.string().min(1).max(200),
    params: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])).default({}),
    cash: z.number().positive().finite().default(10_000),
    commission: commissionSchema.default(0),
    /** Bid-ask spread as a fraction: long entries fill that much higher, short entries lower. */
    spread: feeRate.default(DEFAULT_BROKER_OPTIONS.spread),
    /** Fill price of market orders: the next bar's open, or the close of the bar that placed them. */
    fill: z.enum(["next-open", "close"]).default(DEFAULT_BROKER_OPTIONS.fill),
    /** Size of orders placed without an explicit size. */
    sizing: sizingSchema.default({ type: "equity", fraction: 1 }),
    fractional: z.boolean().default(false),
    direction: z.enum(["long-short", "long-only"]).default(DEFAULT_BROKER_OPTIONS.direction),
    closeAtEnd: z.boolean().default(true),
    /** Accept an order only while none is pending, as backtrader strategies do. */
    singlePendingOrder: z.boolean().default(DEFAULT_BROKER_OPTIONS.singlePendingOrder),
    barsPerSecond: z.number().positive().max(MAX_BARS_PER_SECOND).optional(),
    /** Aggregate the dataset's candles to this interval before the run. */
    resample: z.enum(RESAMPLE_TIMEFRAMES).optional(),
  })
  .strict();

/** A backtest request after validation, with its defaults filled in. */
export type BacktestRequest = z.infer<typeof backtestRequestSchema>;

/**
 * Returns the engine's broker options of a request. Single runs, sweep chunks and the input
 * check take them from here, so that a new option reaches all three. Fields missing from
 * requests queued before an option existed stay undefined and take the engine's defaults.
 */
export function brokerOptionsOf(request: BacktestRequest): BrokerOptionsInput {
  return {
    cash: request.cash,
    commission: request.commission,
    spread: request.spread,
    fill: request.fill,
    sizing: request.sizing,
    fractional: request.fractional,
    direction: request.direction,
    closeAtEnd: request.closeAtEnd,
    singlePendingOrder: request.singlePendingOrder,
  };
}

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
