import { Router, type Request } from "express";

import type { BacktestJobs } from "../../queues/backtest-jobs";
import { parseBacktestRequest } from "../../queues/backtest-request";
import { computeEquityCurve } from "../../queues/equity-curve-thread";
import { ApiError, backtestNotFound } from "../errors";
import { checkBacktestInput } from "../backtest-input";
import { sendEquityCurve } from "../equity-json";

/** REST for backtests: submit, read a snapshot, read the full equity curve, cancel. */
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

  // The result keeps a downsampled curve; this runs the backtest again for every bar's value.
  router.get("/api/backtests/:id/equity", async (req, res) => {
    const id = idParam(req);
    const snapshot = await jobs.snapshot(id);
    if (snapshot === undefined) throw backtestNotFound(id);
    if (snapshot.state !== "completed") {
      throw new ApiError(
        "conflict",
        `backtest "${id}" is ${snapshot.state}; only a completed backtest has an equity curve`,
      );
    }
    const request = await jobs.request(id);
    if (request === undefined) {
      throw new ApiError(
        "not_found",
        `the request of backtest "${id}" is no longer stored, so its equity curve cannot be computed; submit the backtest again`,
      );
    }

    const curve = await computeEquityCurve(request);
    await sendEquityCurve(res, id, curve);
  });

  router.delete("/api/backtests/:id", async (req, res) => {
    const id = idParam(req);
    const outcome = await jobs.cancel(id);
    switch (outcome.status) {
      case "not_found":
        throw backtestNotFound(id);
      case "finished":
        throw new ApiError(
          "conflict",
          `backtest "${id}" already ended in state ${outcome.snapshot.state}; there is nothing to cancel`,
        );
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
