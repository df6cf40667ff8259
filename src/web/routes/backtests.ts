import { Router, type Request } from "express";

import type { BacktestJobs } from "../../queues/backtest-jobs";
import { parseBacktestRequest } from "../../queues/backtest-request";
import { ApiError, backtestNotFound } from "../errors";
import { checkBacktestInput } from "../backtest-input";

/** REST for backtests: submit, read a snapshot, cancel. */
export function backtestRoutes(jobs: BacktestJobs): Router {
  const router = Router();

  router.post("/api/backtests", async (req, res) => {
    const request = parseBacktestRequest(req.body);
    if (request instanceof ApiError) throw request;
    checkBacktestInput(request);

    const id = await jobs.submit(request);
    res.status(202).location(`/api/backtests/${id}`).json({ id });
  });

  router.get("/api/backtests/:id", async (req, res) => {
    const id = idParam(req);
    const snapshot = await jobs.snapshot(id);
    if (snapshot === undefined) throw backtestNotFound(id);
    res.json(snapshot);
  });

  router.delete("/api/backtests/:id", async (req, res) => {
    const id = idParam(req);
    const outcome = await jobs.cancel(id);
    switch (outcome.status) {
      case "not_found":
        throw backtestNotFound(id);
      case "finished":
        throw new ApiError("conflict", `backtest "${id}" already ended in state ${outcome.snapshot.state}; there is nothing to cancel`);
      case "accepted":
        res.status(202).json(outcome.snapshot);
        return;
    }
  });

  return router;
}

function idParam(req: Request): string {
  const id = req.params["id"];
  return typeof id === "string" ? id : "";
}
