import type { ErrorBody } from "../src/hubs/backtest-events";

/**
 * Converts what a backtest threw into the `error` of its `failed` event. Input errors keep their
 * field; anything else keeps only its message, never its stack.
 */
export function toFailure(err: unknown): ErrorBody {
  if (err instanceof Error && err.name === "EngineInputError") {
    const field = (err as Error & { field?: unknown }).field;
    return typeof field === "string"
      ? { code: "validation_failed", message: err.message, field }
      : { code: "validation_failed", message: err.message };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: "internal", message: `backtest failed: ${message}` };
}
