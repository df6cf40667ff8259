/**
 * The `/backtest` hub of the baseline servers: `subscribe` joins the backtest's room and
 * acknowledges a snapshot, as the product's hub does, but without a job layer behind it.
 */
import type { Namespace } from "socket.io";

import { backtestRoom } from "../../../src/hubs/backtest-events";
import { toProgress } from "../../../src/queues/progress";
import { BENCH_TOTAL } from "../publish/payload";

export function registerStubHub(namespace: Namespace, workerLabel: string): void {
  namespace.on("connection", (socket) => {
    socket.on("subscribe", async (request: { id?: unknown }, ack: (reply: unknown) => void) => {
      if (typeof ack !== "function" || typeof request?.id !== "string") return;
      await socket.join(backtestRoom(request.id));
      ack({
        snapshot: { id: request.id, state: "running", seq: 0, progress: toProgress(0, BENCH_TOTAL) },
        worker: workerLabel,
      });
    });
    socket.on("unsubscribe", async (request: { id?: unknown }) => {
      if (typeof request?.id === "string") await socket.leave(backtestRoom(request.id));
    });
  });
}
