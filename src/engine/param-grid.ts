import { EngineInputError } from "./errors";
import type { Strategy } from "./strategy";

/** Values of one parameter in a grid: an inclusive range with a step (default 1), or a list. */
export type ParamRange = { from: number; to: number; step?: number } | readonly number[];

export interface ParamGrid {
  /** Every valid combination, the first parameter varying slowest. */
  combinations: Record<string, number>[];
  /** Combinations that the strategy's `parseParams` rejected, such as fast ≥ slow. */
  skipped: number;
}

/** Largest grid `expandParamGrid` builds by default. */
export const MAX_GRID_COMBINATIONS = 100_000;

/**
 * Expands ranges of parameter values into their cartesian product and keeps the combinations the
 * strategy accepts, so that a grid such as fast 5..50 × slow 10..200 can include pairs with
 * fast ≥ slow without failing. Parameters left out take their defaults. Throws `EngineInputError`
 * on a malformed range (field `grid.<name>`) or when the product exceeds `maxCombinations`.
 */
export function expandParamGrid(
  strategy: Strategy<unknown>,
  ranges: Readonly<Record<string, ParamRange>>,
  options: { bars?: number; maxCombinations?: number } = {},
): ParamGrid {
  const maxCombinations = options.maxCombinations ?? MAX_GRID_COMBINATIONS;
  const axes = Object.entries(ranges).map(([name, range]) => ({
    name,
    values: rangeValues(name, range, maxCombinations),
  }));

  const size = axes.reduce((product, axis) => product * axis.values.length, 1);
  if (size > maxCombinations) {
    throw new EngineInputError(
      "grid",
      `Invalid grid: ${size} combinations exceed the maximum of ${maxCombinations}; use larger steps or fewer values`,
    );
  }

  const combinations: Record<string, number>[] = [];
  let skipped = 0;
  for (let index = 0; index < size; index++) {
    const combination: Record<string, number> = {};
    let rest = index;
    for (let axis = axes.length - 1; axis >= 0; axis--) {
      const { name, values } = axes[axis] as (typeof axes)[number];
      combination[name] = values[rest % values.length] as number;
      rest = Math.floor(rest / values.length);
    }

    try {
      strategy.parseParams(combination, options.bars);
      combinations.push(combination);
    } catch (error) {
      if (!(error instanceof EngineInputError)) throw error;
      skipped++;
    }
  }
  return { combinations, skipped };
}

function rangeValues(name: string, range: ParamRange, maxCount: number): number[] {
  const field = `grid.${name}`;
  if (Array.isArray(range)) {
    const list = range as readonly number[];
    if (list.length === 0 || !list.every((value) => typeof value === "number" && Number.isFinite(value))) {
      throw new EngineInputError(field, `Invalid values for ${name}: expected a non-empty list of finite numbers`);
    }
    return [...list];
  }

  const { from, to, step = 1 } = range as { from: number; to: number; step?: number };
  if (
    ![from, to, step].every((value) => typeof value === "number" && Number.isFinite(value)) ||
    step <= 0 ||
    to < from
  ) {
    throw new EngineInputError(
      field,
      `Invalid range for ${name}: expected {"from":a,"to":b,"step":s} with a ≤ b and s > 0, got ${JSON.stringify(range)}`,
    );
  }
  const values: number[] = [];
  // Counting steps instead of adding them keeps 0.1-steps free of accumulated rounding.
  const count = Math.floor((to - from) / step + 1e-9) + 1;
  if (count > maxCount) {
    throw new EngineInputError(field, `Invalid range for ${name}: ${count} values exceed the maximum of ${maxCount}`);
  }
  for (let k = 0; k < count; k++) values.push(from + k * step);
  return values;
}
