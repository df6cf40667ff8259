import { z } from "zod";

import type {
  BacktestEvent,
  BacktestResult,
  BacktestSnapshot,
  ErrorBody,
  ErrorReply,
  SubscribeReply,
  SweepEntry,
  SweepSummary,
} from "../hubs/backtest-events";
import { BacktestProtocolError } from "./errors";

// Schemas for what the server sends. Each is typed against the hub contract, so a contract change that these
// schemas do not follow breaks the build. Payloads are still checked at runtime because a client may talk to a
// server of another version.

const errorBodySchema: z.ZodType<ErrorBody> = z.object({
  // A code added by a newer server reads as "internal" instead of making the whole reply invalid.
  code: z.enum(["validation_failed", "not_found", "conflict", "unavailable", "internal"]).catch("internal"),
  message: z.string(),
  field: z.string().optional(),
});

export const errorReplySchema: z.ZodType<ErrorReply> = z.object({ error: errorBodySchema });

const sequenceNumber = z.number().int().nonnegative();

const progressFields = {
  processed: z.number(),
  total: z.number(),
  percent: z.number(),
};

const tradeRecordSchema = z.object({
  entryBar: z.number(),
  exitBar: z.number(),
  entryTime: z.string(),
  exitTime: z.string(),
  entryPrice: z.number(),
  exitPrice: z.number(),
  size: z.number(),
  pnl: z.number(),
  returnPct: z.number(),
});

const openTradeRecordSchema = z.object({
  entryBar: z.number(),
  entryTime: z.string(),
  entryPrice: z.number(),
  size: z.number(),
  openPnl: z.number(),
});

const sweepEntrySchema: z.ZodType<SweepEntry> = z.object({
  index: z.number().int().nonnegative(),
  params: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])),
  stats: z.record(z.string(), z.number().nullable()),
});

// A sweep's summary is passed on as the server sent it, checked only to be an object.
const sweepSummarySchema = z.custom<SweepSummary>(
  (value) => typeof value === "object" && value !== null && !Array.isArray(value),
  "expected the sweep summary object",
);

// Loose: fields that a newer server adds to a result reach the caller instead of being dropped.
const resultSchema: z.ZodType<BacktestResult> = z.looseObject({
  stats: z.record(z.string(), z.union([z.number(), z.string(), z.null()])).and(z.object({ trades: z.number() })),
  trades: z.array(tradeRecordSchema),
  openTrades: z.array(openTradeRecordSchema).optional(),
  equity: z.unknown().optional(),
  sweep: sweepSummarySchema.optional(),
});

const bestSchema = z.array(sweepEntrySchema).optional();

export const snapshotSchema: z.ZodType<BacktestSnapshot> = z.object({
  id: z.string().min(1),
  state: z.enum(["queued", "running", "completed", "failed", "cancelled"]),
  seq: sequenceNumber,
  progress: z.object(progressFields),
  result: resultSchema.optional(),
  error: errorBodySchema.optional(),
  best: bestSchema,
});

const subscribeReplySchema: z.ZodType<SubscribeReply | ErrorReply> = z.union([
  z.object({ snapshot: snapshotSchema, worker: z.string() }),
  errorReplySchema,
]);

const eventSchemas = {
  progress: z.object({ id: z.string().min(1), seq: sequenceNumber, ...progressFields, best: bestSchema }),
  completed: z.object({ id: z.string().min(1), seq: sequenceNumber, result: resultSchema }),
  failed: z.object({ id: z.string().min(1), seq: sequenceNumber, error: errorBodySchema }),
  cancelled: z.object({ id: z.string().min(1), seq: sequenceNumber }),
};

export type BacktestEventType = BacktestEvent["type"];

export const BACKTEST_EVENT_TYPES: readonly BacktestEventType[] = ["progress", "completed", "failed", "cancelled"];

/**
 * Parses a payload against a schema and returns the typed value.
 * Throws BacktestProtocolError naming `description` and the fields at fault.
 */
export function parsePayload<T>(schema: z.ZodType<T>, payload: unknown, description: string): T {
  const parsed = schema.safeParse(payload);
  if (!parsed.success) {
    throw new BacktestProtocolError(`invalid ${description} from the server: ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

export function parseSubscribeReply(payload: unknown): SubscribeReply | ErrorReply {
  return parsePayload(subscribeReplySchema, payload, "subscribe acknowledgement");
}

/** Parses a hub event and tags it with its type. Throws BacktestProtocolError if it is malformed. */
export function parseBacktestEvent(type: BacktestEventType, payload: unknown): BacktestEvent {
  switch (type) {
    case "progress":
      return { type, ...parsePayload(eventSchemas.progress, payload, "progress event") };
    case "completed":
      return { type, ...parsePayload(eventSchemas.completed, payload, "completed event") };
    case "failed":
      return { type, ...parsePayload(eventSchemas.failed, payload, "failed event") };
    case "cancelled":
      return { type, ...parsePayload(eventSchemas.cancelled, payload, "cancelled event") };
  }
}

/** Reads the job id of a payload that failed validation, so that the error reaches the follow it belongs to. */
export function readPayloadId(payload: unknown): string | undefined {
  if (typeof payload !== "object" || payload === null || !("id" in payload)) {
    return undefined;
  }
  return typeof payload.id === "string" ? payload.id : undefined;
}
