/**
 * Entry point of `npm start`: the cluster primary, or a web worker when forked by it. Settings
 * are parsed and validated before anything starts; each role loads only its own code.
 */
import cluster from "node:cluster";

import { loadSettings } from "./config/settings";
import { exitOnConfigError } from "./config/exit-on-config-error";

const settings = exitOnConfigError(() => loadSettings(process.env));

if (cluster.isPrimary) {
  void import("./primary/primary.js").then(({ runPrimary }) => runPrimary(settings));
} else {
  void import("./web/web-worker.js").then(({ runWebWorker }) => runWebWorker(settings));
}
