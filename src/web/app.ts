import express, { type ErrorRequestHandler, type RequestHandler } from "express";
import type { Logger } from "pino";

import type { Settings } from "../config/settings";
import type { BacktestJobs } from "../queues/backtest-jobs";
import type { SweepJobs } from "../queues/sweep-jobs";
import { ApiError, INTERNAL_ERROR_BODY, validationFailed } from "./errors";
import { backtestRoutes } from "./routes/backtests";
import { clientConfigRoutes, resolveClientConfig } from "./routes/client-config";
import { datasetRoutes } from "./routes/datasets";
import { healthRoutes } from "./routes/health";
import { sweepRoutes } from "./routes/sweeps";

/** Largest JSON body accepted on the API. */
const MAX_JSON_BYTES = 1024 * 1024;

export interface AppOptions {
  jobs: BacktestJobs;
  sweeps: SweepJobs;
  /** Largest dataset upload in bytes, as sent and after gunzip (MAX_UPLOAD_BYTES). */
  maxUploadBytes: number;
  /** `<instance id>/<pid>`, sent as `X-Backplane-Worker` on every response. */
  workerLabel: string;
  logger: Logger;
  /** The settings that `GET /api/client-config` is built from. */
  settings: Pick<Settings, "clientTransports" | "redis">;
}

export function createApp(options: AppOptions): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);

  app.use((_req, res, next) => {
    res.setHeader("X-Backplane-Worker", options.workerLabel);
    next();
  });
  // Before the JSON parser: an upload streams its raw body to disk.
  app.use(datasetRoutes({ maxUploadBytes: options.maxUploadBytes, logger: options.logger }));
  // In strict mode body-parser reports a body such as "text" or 42 as "not valid JSON", which is
  // false. strict: false lets it reach validation, which names what was expected.
  app.use(express.json({ limit: MAX_JSON_BYTES, strict: false }));

  app.use(healthRoutes(options.jobs));
  app.use(backtestRoutes(options.jobs));
  app.use(sweepRoutes(options.sweeps));
  app.use(clientConfigRoutes(resolveClientConfig(options.settings)));

  app.use(notFound);
  app.use(errorHandler(options.logger));
  return app;
}

const notFound: RequestHandler = (req, _res, next) => {
  next(new ApiError("not_found", `no route for ${req.method} ${req.path}; see the README for the API`));
};

function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const error = toApiError(err);
    if (error === undefined) {
      logger.error({ err, method: req.method, path: req.path }, "request failed");
      res.status(500).json({ error: INTERNAL_ERROR_BODY });
      return;
    }

    const level = error.status >= 500 ? "warn" : "info";
    logger[level](
      { method: req.method, path: req.path, status: error.status, code: error.code, reason: error.message },
      "request rejected",
    );
    res.status(error.status).json({ error: error.toBody() });
  };
}

/** Maps our errors and body-parser's errors to the catalogue; anything else is internal. */
function toApiError(err: unknown): ApiError | undefined {
  if (err instanceof ApiError) return err;
  if (typeof err !== "object" || err === null) return undefined;

  const type = (err as { type?: unknown }).type;
  if (type === "entity.parse.failed") {
    const detail = (err as Error).message;
    return validationFailed(
      `the request body is not valid JSON (${detail}); send a JSON object with Content-Type: application/json`,
    );
  }
  if (type === "entity.too.large") {
    return validationFailed(`the request body is larger than ${MAX_JSON_BYTES} bytes`);
  }
  if (type === "encoding.unsupported" || type === "charset.unsupported") {
    return validationFailed(`${(err as Error).message}; send UTF-8 JSON`);
  }
  return undefined;
}
