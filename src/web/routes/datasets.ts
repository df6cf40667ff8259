import { Router } from "express";

import { listDatasets } from "../../data/datasets";

export function datasetRoutes(): Router {
  const router = Router();

  router.get("/api/datasets", async (_req, res) => {
    res.json(await listDatasets());
  });

  return router;
}
