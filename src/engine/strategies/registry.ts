import { EngineInputError } from "../errors";
import { validateParams } from "../params";
import type { ParamSpec, Strategy } from "../strategy";
import { bollingerReversion } from "./bollinger";
import { closeVsSma } from "./close-vs-sma";
import { emaCross } from "./ema-cross";
import { macdCross } from "./macd";
import { rsiReversion } from "./rsi-reversion";
import { smaCross } from "./sma-cross";

/** Lower-case words of letters and digits joined by single hyphens, at most 64 characters. */
const NAME_PATTERN = /^[a-z0-9]+(-[a-z0-9]+)*$/;
const MAX_NAME_LENGTH = 64;

/**
 * Registered strategies by name, with where each came from. `Strategy<unknown>` erases each one's
 * parameter type: the engine only passes a strategy's own `parseParams` output back to its `init`.
 */
const registry = new Map<string, { strategy: Strategy<unknown>; origin: string }>();

/**
 * Adds a strategy to the registry after checking its shape: a valid unique name, a description,
 * well-formed parameter specs whose defaults `parseParams` accepts, and the two functions.
 * Throws a TypeError that names `origin` (a file, or "built-in") and what is wrong.
 *
 * The registered strategy checks request parameters against its `params` specs (unknown names,
 * types, ranges and defaults) before its own `parseParams` receives them. It also turns any error
 * that `parseParams` throws into an `EngineInputError`, named by the error's `field` when it has
 * one. A plug-in module therefore needs nothing from Backplane at run time.
 */
export function registerStrategy(candidate: unknown, origin = "code"): Strategy<unknown> {
  const strategy = withCheckedParams(checkStrategyShape(candidate, origin));

  const existing = registry.get(strategy.name);
  if (existing !== undefined) {
    throw new TypeError(
      `Strategy "${strategy.name}" from ${origin} is already registered from ${existing.origin}: give it another name`,
    );
  }
  try {
    strategy.parseParams({});
  } catch (error) {
    throw new TypeError(
      `Strategy "${strategy.name}" from ${origin} rejects its own default parameters: ${error instanceof Error ? error.message : String(error)}`,
    );
  }

  registry.set(strategy.name, { strategy, origin });
  return strategy;
}

/** Returns the strategy registered under `name`, or throws `EngineInputError` on field `strategy`. */
export function getStrategy(name: string): Strategy<unknown> {
  const entry = registry.get(name);
  if (entry === undefined) {
    throw new EngineInputError(
      "strategy",
      `Unknown strategy ${JSON.stringify(name)}: use one of ${[...registry.keys()].join(", ")}`,
    );
  }
  return entry.strategy;
}

export function hasStrategy(name: string): boolean {
  return registry.has(name);
}

/** Lists the registered strategies in registration order: the built-ins first. */
export function listStrategies(): Strategy<unknown>[] {
  return [...registry.values()].map((entry) => entry.strategy);
}

function withCheckedParams(strategy: Strategy<unknown>): Strategy<unknown> {
  return {
    name: strategy.name,
    description: strategy.description,
    params: strategy.params,
    parseParams(raw, bars) {
      const values = validateParams(strategy.name, strategy.params, raw);
      try {
        return strategy.parseParams(values, bars);
      } catch (error) {
        throw asInputError(strategy.name, error);
      }
    },
    init: (candles, params, indicators) => strategy.init(candles, params, indicators),
  };
}

/** Converts an error of a strategy's `parseParams` into an `EngineInputError`, keeping its `field` when it names a parameter. */
function asInputError(strategy: string, error: unknown): EngineInputError {
  if (error instanceof EngineInputError) return error;

  const field = (error as { field?: unknown } | null)?.field;
  const message = error instanceof Error ? error.message : String(error);
  return new EngineInputError(
    typeof field === "string" && field.startsWith("params") ? field : "params",
    `Invalid params for strategy "${strategy}": ${message}`,
  );
}

function checkStrategyShape(candidate: unknown, origin: string): Strategy<unknown> {
  const fail = (problem: string): never => {
    throw new TypeError(`Invalid strategy from ${origin}: ${problem}`);
  };
  if (typeof candidate !== "object" || candidate === null) return fail(`expected an object, got ${typeof candidate}`);

  const value = candidate as Record<string, unknown>;
  const name = value["name"];
  if (typeof name !== "string" || !NAME_PATTERN.test(name) || name.length > MAX_NAME_LENGTH) {
    fail(`name ${JSON.stringify(name)} must be lower-case words joined by hyphens, such as "my-strategy"`);
  }
  if (typeof value["description"] !== "string") fail(`"description" must be a string`);
  if (typeof value["parseParams"] !== "function") fail(`"parseParams" must be a function`);
  if (typeof value["init"] !== "function") fail(`"init" must be a function`);

  const params = value["params"];
  if (!Array.isArray(params)) return fail(`"params" must be an array of parameter specs`);
  params.forEach((spec: unknown, index) => checkParamSpec(spec, `params[${index}]`, fail));
  return candidate as Strategy<unknown>;
}

function checkParamSpec(spec: unknown, where: string, fail: (problem: string) => never): void {
  if (typeof spec !== "object" || spec === null) fail(`${where} must be an object`);
  const value = spec as Partial<Record<keyof ParamSpec, unknown>>;

  if (typeof value.name !== "string" || value.name === "") fail(`${where}.name must be a non-empty string`);
  if (value.kind !== "integer" && value.kind !== "number") fail(`${where}.kind must be "integer" or "number"`);
  if (typeof value.default !== "number" || !Number.isFinite(value.default))
    fail(`${where}.default must be a finite number`);
  for (const bound of ["min", "max"] as const) {
    if (value[bound] !== undefined && typeof value[bound] !== "number") fail(`${where}.${bound} must be a number`);
  }
  if (typeof value.description !== "string") fail(`${where}.description must be a string`);
}

for (const builtIn of [smaCross, emaCross, rsiReversion, macdCross, bollingerReversion, closeVsSma]) {
  registerStrategy(builtIn, "built-in");
}
