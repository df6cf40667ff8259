import path from "node:path";
import { Worker } from "node:worker_threads";

import type { FullEquityCurve } from "../engine/result";
import type { ErrorBody } from "../hubs/backtest-events";
import { unavailable } from "../web/errors";
import type { BacktestRequest } from "./backtest-request";

/** Compiled entry of the equity thread, next to this file's compiled output. */
const THREAD_ENTRY = path.resolve(__dirname, "../../workers/equity-thread.js");

/** Default of `EquityCurveOptions.timeoutMs`. */
const DEFAULT_TIMEOUT_MS = 60_000;

/** The message that a web worker posts to a new equity thread. */
export interface ToEquityThread {
  type: "compute";
  request: BacktestRequest;
}

/** The one message that an equity thread posts back before it exits. */
export type FromEquityThread = ({ type: "computed" } & FullEquityCurve) | { type: "failed"; error: ErrorBody };

export interface EquityCurveOptions {
  /** Maximum wait for the thread's result, in milliseconds, before it is terminated. Default 60000. */
  timeoutMs?: number;
}

/**
 * Runs a backtest request again in a one-off worker thread and resolves with its full equity
 * curve, so that the calling web worker's event loop stays free. The thread transfers the
 * arrays' buffers instead of copying them. Rejects with the thread's error message, or with an
 * `ApiError` of code `unavailable` when the thread sends no result within `timeoutMs`.
 */
export function computeEquityCurve(
  request: BacktestRequest,
  options: EquityCurveOptions = {},
): Promise<FullEquityCurve> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  // NOTE: every call starts its own thread, with no limit on how many run at once.
  const thread = new Worker(THREAD_ENTRY);

  const curve = new Promise<FullEquityCurve>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(
        unavailable(
          `computing the equity curve timed out after ${timeoutMs} ms on dataset "${request.dataset}". Retry later.`,
        ),
      );
    }, timeoutMs);
    const settle = (finish: () => void) => {
      clearTimeout(timer);
      finish();
    };

    thread.once("message", (message: FromEquityThread) => {
      if (message.type === "computed") {
        const { time, equity, drawdownPct } = message;
        settle(() => resolve({ time, equity, drawdownPct }));
      } else {
        settle(() => reject(new Error(`computing the equity curve failed: ${message.error.message}`)));
      }
    });
    thread.once("error", (err) => settle(() => reject(err)));
    thread.once("exit", (code) =>
      settle(() => reject(new Error(`the equity thread exited with code ${code} before it sent a result`))),
    );
  });

  thread.postMessage({ type: "compute", request } satisfies ToEquityThread);
  // The thread stays idle after it posts its result, and a failed or timed-out one may still be running.
  return curve.finally(() => void thread.terminate());
}
