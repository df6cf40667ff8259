/**
 * Entry point of a worker thread that runs backtests and chunks of parameter sweeps for a web
 * worker in single-host mode, one at a time, off the web worker's event loop.
 */
import { parentPort } from "node:worker_threads";

import { loadSettings } from "../src/config/settings";
import { loadCandles } from "../src/data/datasets";
import { loadStrategiesAtStartup } from "../src/engine/strategies/load-at-startup";
import { executeBacktest } from "./execute-backtest";
import { toFailure } from "./failure";
import { evaluateChunk } from "./sweep-chunk";
import type { FromThread, ToThread } from "./thread-messages";

const port = parentPort;
if (port === null) throw new Error("backtest-thread must run as a worker thread");
// A thread has its own module registry, so it loads the plug-ins that its web worker loaded.
loadStrategiesAtStartup(loadSettings(process.env).strategiesDir);

const cancelled = new Set<string>();

function send(message: FromThread): void {
  port?.postMessage(message);
}

async function run(id: string, message: Extract<ToThread, { type: "run" }>): Promise<void> {
  try {
    const outcome = await executeBacktest(message.request, {
      progress: (processed, total) => send({ type: "progress", id, processed, total }),
      isCancelled: () => cancelled.has(id),
    });
    send(
      outcome.status === "completed"
        ? { type: "completed", id, total: outcome.total, result: outcome.result }
        : { type: "cancelled", id },
    );
  } catch (err) {
    send({ type: "failed", id, error: toFailure(err) });
  } finally {
    cancelled.delete(id);
  }
}

async function runChunk(id: string, message: Extract<ToThread, { type: "run-chunk" }>): Promise<void> {
  try {
    const candles = await loadCandles(message.request.dataset, message.request.resample);
    const result = await evaluateChunk(message.request, candles, message.chunk, {
      isCancelled: () => cancelled.has(id),
    });
    send(result === undefined ? { type: "cancelled", id } : { type: "chunk-completed", id, result });
  } catch (err) {
    send({ type: "failed", id, error: toFailure(err) });
  } finally {
    cancelled.delete(id);
  }
}

port.on("message", (message: ToThread) => {
  if (message.type === "cancel") cancelled.add(message.id);
  if (message.type === "run") void run(message.id, message);
  if (message.type === "run-chunk") void runChunk(message.id, message);
});
