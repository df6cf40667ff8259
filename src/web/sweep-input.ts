import { datasetRows } from "../data/datasets";
import { EngineInputError, getStrategy } from "../engine";
import {
  type SweepRequest,
  combinationAt,
  combinationCount,
  combinationRequest,
  gridAxes,
} from "../queues/sweep-request";
import { checkBacktestInput } from "./backtest-input";
import { ApiError, validationFailed } from "./errors";

/**
 * Rejects, before anything is queued, a sweep whose dataset, resample target, strategy or broker
 * options are invalid, whose grid names a parameter the strategy does not have, or whose every
 * combination the strategy rejects. A grid may mix valid and invalid combinations: the invalid
 * ones are skipped and counted while it runs. Resolves with the dataset's row count.
 */
export async function checkSweepInput(request: SweepRequest): Promise<number> {
  // Read first: it caches an uploaded dataset's metadata, which every combination's check reads.
  const rows = await datasetRows(request.dataset);
  const axes = gridAxes(request);
  let known: readonly { name: string }[];
  try {
    known = getStrategy(request.strategy).params;
  } catch (err) {
    if (err instanceof EngineInputError) throw validationFailed(err.message, err.field);
    throw err;
  }
  for (const axis of axes) {
    if (!known.some((spec) => spec.name === axis.name)) {
      throw validationFailed(
        `grid.${axis.name} is not a parameter of strategy "${request.strategy}": use ${known.map((spec) => spec.name).join(", ") || "no grid, it has no parameters"}`,
        `grid.${axis.name}`,
      );
    }
  }

  // The first combination also checks the dataset, the resample target and the broker options,
  // with the same rules as a single backtest.
  let firstRejection: ApiError | undefined;
  const total = combinationCount(axes);
  for (let index = 0; index < total; index++) {
    try {
      checkBacktestInput(combinationRequest(request, combinationAt(axes, index)));
      firstRejection = undefined;
      break;
    } catch (err) {
      if (!(err instanceof ApiError) || !err.field?.startsWith("params.")) throw err;
      firstRejection ??= err;
    }
  }
  if (firstRejection !== undefined) {
    throw validationFailed(
      `none of the ${total} combinations of the grid is valid for strategy "${request.strategy}"; the first was rejected with: ${firstRejection.message}`,
      "grid",
    );
  }

  return rows ?? 0;
}
