/**
 * Entry point of a one-off worker thread that runs one backtest request again and posts back its
 * full equity curve, for `GET /api/backtests/:id/equity`. It posts one message, and the web worker
 * then terminates it.
 */
import { parentPort } from "node:worker_threads";

import { loadSettings } from "../src/config/settings";
import { loadCandles } from "../src/data/datasets";
import { fullEquityCurve } from "../src/engine/run";
import { loadStrategiesAtStartup } from "../src/engine/strategies/load-at-startup";
import { brokerOptionsOf } from "../src/queues/backtest-request";
import type { FromEquityThread, ToEquityThread } from "../src/queues/equity-curve-thread";
import { toFailure } from "./failure";

const port = parentPort;
if (port === null) throw new Error("equity-thread must run as a worker thread");
// A thread has its own module registry, so it loads the plug-ins that its web worker loaded.
loadStrategiesAtStartup(loadSettings(process.env).strategiesDir);

async function compute(message: ToEquityThread): Promise<void> {
  const { request } = message;
  try {
    // The same input as the original run (`executeBacktest`), so the same curve comes out.
    const candles = await loadCandles(request.dataset, request.resample);
    const curve = fullEquityCurve({
      candles,
      strategy: request.strategy,
      params: request.params,
      broker: brokerOptionsOf(request),
    });

    // A Set, because two arrays on one buffer in a transfer list would make postMessage throw.
    // A SharedArrayBuffer cannot be transferred, and it is shared without copying anyway.
    const buffers = new Set<ArrayBuffer>();
    for (const array of [curve.time, curve.equity, curve.drawdownPct]) {
      if (array.buffer instanceof ArrayBuffer) buffers.add(array.buffer);
    }
    send({ type: "computed", ...curve }, [...buffers]);
  } catch (err) {
    send({ type: "failed", error: toFailure(err) });
  }
}

function send(message: FromEquityThread, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(message, transfer);
}

port.once("message", (message: ToEquityThread) => void compute(message));
