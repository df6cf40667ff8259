/** Validation of strategy parameters, shared by the built-in strategies and available to plug-ins. */
import { EngineInputError } from "./errors";
import type { ParamSpec, StrategyParams } from "./strategy";

/**
 * Checks raw parameters against their specs: rejects unknown names, non-numbers, fractions where
 * integers are expected and values out of range, and fills defaults. Throws `EngineInputError`
 * naming `params.<name>`.
 */
export function validateParams(
  strategy: string,
  specs: readonly ParamSpec[],
  raw: Record<string, unknown>,
): StrategyParams {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new EngineInputError(
      "params",
      `Invalid params ${JSON.stringify(raw)} for strategy "${strategy}": expected an object such as {}`,
    );
  }

  const known = new Set(specs.map((spec) => spec.name));
  for (const name of Object.keys(raw)) {
    if (!known.has(name)) {
      throw new EngineInputError(
        `params.${name}`,
        `Unknown parameter "${name}" for strategy "${strategy}": expected ${[...known].join(", ") || "no parameters"}`,
      );
    }
  }

  const values: Record<string, number> = {};
  for (const spec of specs) {
    values[spec.name] = checkParam(strategy, spec, raw[spec.name]);
  }
  return values;
}

/** Throws `EngineInputError` on `params.<low>` unless params[low] < params[high]. */
export function requireLess(strategy: string, params: StrategyParams, low: string, high: string): void {
  const lowValue = params[low] as number;
  const highValue = params[high] as number;
  if (lowValue < highValue) return;

  throw new EngineInputError(
    `params.${low}`,
    `Invalid ${low} ${lowValue} for strategy "${strategy}": it must be less than ${high} (${highValue})`,
  );
}

/**
 * Throws `EngineInputError` on `params.<name>` when a lookback of `needed` bars leaves no bar to
 * trade in a dataset of `bars` bars. Does nothing when `bars` is unknown.
 */
export function requireBars(strategy: string, name: string, value: number, needed: number, bars?: number): void {
  if (bars === undefined || needed < bars) return;

  throw new EngineInputError(
    `params.${name}`,
    `Invalid ${name} ${value} for strategy "${strategy}": it needs ${needed} bars of warm-up but the dataset has ${bars} bars, so use a smaller ${name}`,
  );
}

function checkParam(strategy: string, spec: ParamSpec, value: unknown): number {
  const field = `params.${spec.name}`;
  if (value === undefined) return spec.default;

  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new EngineInputError(
      field,
      `Invalid ${spec.name} ${JSON.stringify(value)} for strategy "${strategy}": expected a finite number`,
    );
  }
  if (spec.kind === "integer" && !Number.isInteger(value)) {
    throw new EngineInputError(field, `Invalid ${spec.name} ${value} for strategy "${strategy}": expected an integer`);
  }
  if (spec.min !== undefined && value < spec.min) {
    throw new EngineInputError(
      field,
      `Invalid ${spec.name} ${value} for strategy "${strategy}": expected at least ${spec.min}`,
    );
  }
  if (spec.max !== undefined && value > spec.max) {
    throw new EngineInputError(
      field,
      `Invalid ${spec.name} ${value} for strategy "${strategy}": expected at most ${spec.max}`,
    );
  }
  return value;
}
