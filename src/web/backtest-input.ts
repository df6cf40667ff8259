import { datasetDefinitions, datasetIntervalMs, hasDataset } from "../data/datasets";
import { resampleProblem } from "../data/resample";
import { EngineInputError, validateBacktestInput } from "../engine";
import type { BacktestRequest } from "../queues/backtest-request";
import { validationFailed } from "./errors";

/**
 * Rejects, before anything is queued, a request whose dataset or strategy does not exist or
 * whose strategy parameters or broker options are invalid.
 */
export function checkBacktestInput(request: BacktestRequest): void {
  if (!hasDataset(request.dataset)) {
    throw validationFailed(
      `unknown dataset "${request.dataset}"; use one of ${datasetDefinitions().map((d) => d.id).join(", ")} (GET /api/datasets lists them)`,
      "dataset",
    );
  }
  if (request.resample !== undefined) {
    const problem = resampleProblem(datasetIntervalMs(request.dataset) ?? 0, request.resample);
    if (problem !== undefined) throw validationFailed(problem, "resample");
  }

  try {
    validateBacktestInput({
      strategy: request.strategy,
      params: request.params,
      broker: { cash: request.cash, commission: request.commission, fractional: request.fractional, closeAtEnd: request.closeAtEnd },
    });
  } catch (err) {
    if (!(err instanceof EngineInputError)) throw err;
    throw validationFailed(err.message, err.field);
  }
}
