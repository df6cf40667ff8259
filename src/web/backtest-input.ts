import { datasetDefinitions, datasetIntervalMs, hasDataset } from "../data/datasets";
import { resampleProblem } from "../data/resample";
import { EngineInputError, validateBacktestInput } from "../engine";
import { type BacktestRequest, brokerOptionsOf } from "../queues/backtest-request";
import { validationFailed } from "./errors";

/**
 * Rejects, before anything is queued, a request whose dataset or strategy does not exist or
 * whose strategy parameters or broker options are invalid.
 */
export function checkBacktestInput(request: BacktestRequest): void {
  if (!hasDataset(request.dataset)) {
    throw validationFailed(
      `unknown dataset "${request.dataset}"; use one of ${datasetDefinitions()
        .map((d) => d.id)
        .join(", ")} (GET /api/datasets lists them)`,
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
      broker: brokerOptionsOf(request),
    });
  } catch (err) {
    if (!(err instanceof EngineInputError)) throw err;
    // The engine names broker options `broker.<option>`; the request has them at the top level.
    throw validationFailed(err.message, err.field.replace(/^broker\./, ""));
  }
}
