import { Router } from "express";

import type { BacktestJobs } from "../../queues/backtest-jobs";

/** `/healthz` is liveness (the process answers); `/readyz` is readiness to take jobs. */
export function healthRoutes(jobs: BacktestJobs): Router {
  const router = Router();

  router.get("/healthz", (_req, res) => {
    res.json({ ok: true });
  });

  router.get("/readyz", (_req, res) => {
    const readiness = jobs.readiness();
    if (readiness.ready) {
      res.json({ ready: true });
      return;
    }
    res.status(503).json({ ready: false, reason: readiness.reason ?? "not ready" });
  });

  return router;
}
