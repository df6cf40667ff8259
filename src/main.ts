/**
 * Entry point of `npm start`: the cluster primary, or a web worker when forked by it. Settings
 * are parsed and validated before anything starts; each role loads only its own code.
 */
import cluster from "node:cluster";

import { loadSettings } from "./config/settings";
import { exitOnConfigError } from "./config/exit-on-config-error";

const settings = exitOnConfigError(() => loadSettings(process.env));

if (cluster.isPrimary) {
  import("./primary/primary.js")
    .then(({ runPrimary }) => runPrimary(settings))
    .catch((err: unknown) => {
      // Listening failed (port in use, unknown HOST) or DATA_DIR is unusable. The primary kills
      // its children on exit, so nothing is left behind.
      const reason = err instanceof Error ? err.message : String(err);
      process.stderr.write(`Backplane did not start: ${reason}\n`);
      process.exit(1);
    });
} else {
  void import("./web/web-worker.js").then(({ runWebWorker }) => runWebWorker(settings));
}
