import { EngineInputError } from "../errors";
import type { Strategy } from "../strategy";
import { smaCross } from "./sma-cross";

/**
 * Registered strategies by name. `Strategy<unknown>` erases each one's parameter type: the engine
 * only passes a strategy's own `parseParams` output back to its `init`.
 */
const STRATEGIES: ReadonlyMap<string, Strategy<unknown>> = new Map<string, Strategy<unknown>>([
  [smaCross.name, smaCross],
]);

/** Returns the strategy registered under `name`, or throws `EngineInputError` on field `strategy`. */
export function getStrategy(name: string): Strategy<unknown> {
  const strategy = STRATEGIES.get(name);
  if (strategy === undefined) {
    throw new EngineInputError(
      "strategy",
      `Unknown strategy ${JSON.stringify(name)}: use one of ${[...STRATEGIES.keys()].join(", ")}`,
    );
  }
  return strategy;
}

export function hasStrategy(name: string): boolean {
  return STRATEGIES.has(name);
}

/** Lists the registered strategies in registration order. */
export function listStrategies(): Strategy<unknown>[] {
  return [...STRATEGIES.values()];
}
