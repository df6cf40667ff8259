import { Router, type Request } from "express";
import { z } from "zod";

import { zodIssueToError } from "../../queues/backtest-request";
import type { SweepJobs } from "../../queues/sweep-jobs";
import { parseSweepRequest } from "../../queues/sweep-request";
import { ApiError, validationFailed } from "../errors";
import { checkSweepInput } from "../sweep-input";

const heatmapQuerySchema = z.object({
  x: z.string().min(1).max(100),
  y: z.string().min(1).max(100),
  stat: z.string().min(1).max(100).optional(),
});

/** REST for parameter sweeps: submit, read a snapshot, cancel, and read a heatmap of the results. */
export function sweepRoutes(sweeps: SweepJobs): Router {
  const router = Router();

  router.post("/api/sweeps", async (req, res) => {
    const request = parseSweepRequest(req.body);
    if (request instanceof ApiError) throw request;
    const rows = await checkSweepInput(request);

    const id = await sweeps.submit(request, rows);
    res.status(202).location(`/api/sweeps/${id}`).json({ id });
  });

  router.get("/api/sweeps/:id", async (req, res) => {
    const id = idParam(req);
    const snapshot = await sweeps.snapshot(id);
    if (snapshot === undefined) throw sweepNotFound(id);
    res.json(snapshot);
  });

  router.delete("/api/sweeps/:id", async (req, res) => {
    const id = idParam(req);
    const outcome = await sweeps.cancel(id);
    switch (outcome.status) {
      case "not_found":
        throw sweepNotFound(id);
      case "finished":
        throw new ApiError(
          "conflict",
          `sweep "${id}" already ended in state ${outcome.snapshot.state}; there is nothing to cancel`,
        );
      case "accepted":
        res.status(202).json(outcome.snapshot);
        return;
    }
  });

  router.get("/api/sweeps/:id/heatmap", async (req, res) => {
    const id = idParam(req);
    const query = heatmapQuerySchema.safeParse(req.query);
    if (!query.success) {
      const error = zodIssueToError(query.error.issues[0]);
      throw validationFailed(
        `${error.message}. Ask for GET /api/sweeps/<id>/heatmap?x=<grid parameter>&y=<grid parameter>&stat=<statistic>`,
        error.field,
      );
    }

    const outcome = await sweeps.heatmap(id, query.data);
    switch (outcome.status) {
      case "not_found":
        throw sweepNotFound(id);
      case "invalid":
        throw validationFailed(outcome.message, outcome.field);
      case "ok":
        res.json(outcome.heatmap);
        return;
    }
  });

  return router;
}

function idParam(req: Request): string {
  const id = req.params["id"];
  return typeof id === "string" ? id : "";
}

function sweepNotFound(id: string): ApiError {
  return new ApiError(
    "not_found",
    `sweep "${id}" was not found. It may never have existed or its result expired (RESULT_TTL_S).`,
  );
}
