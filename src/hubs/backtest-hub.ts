import type { Logger } from "pino";
import { z } from "zod";

import { ApiError, backtestNotFound, INTERNAL_ERROR_BODY, validationFailed } from "../web/errors";
import type { BacktestJobs } from "../queues/backtest-jobs";
import { zodIssueToError } from "../queues/backtest-request";
import type { BacktestNamespace } from "../relay/event-payload";
import { backtestRoom, type ErrorReply } from "./backtest-events";

const subscriptionSchema = z.object({ id: z.string().min(1).max(200) });

export interface BacktestHubOptions {
  jobs: BacktestJobs;
  /** `<instance id>/<pid>`, returned in every subscribe ack. */
  workerLabel: string;
  logger: Logger;
}

/**
 * Serves the `/backtest` namespace: `subscribe` joins the backtest's room and acks its snapshot,
 * `unsubscribe` leaves it. Events reach the room through the relay or the local job runner.
 */
export function registerBacktestHub(namespace: BacktestNamespace, options: BacktestHubOptions): void {
  const { jobs, workerLabel, logger } = options;

  namespace.on("connection", (socket) => {
    socket.on("subscribe", async (request: unknown, ack: unknown) => {
      if (typeof ack !== "function") {
        logger.info({ socketId: socket.id }, "subscribe without an acknowledgement callback ignored");
        return;
      }
      const reply = ack as (value: unknown) => void;

      const parsed = parseSubscription(request);
      if (parsed instanceof ApiError) {
        reply({ error: parsed.toBody() } satisfies ErrorReply);
        return;
      }

      // Join before reading the snapshot, so no event falls between the two; the client skips
      // any event the snapshot already covers.
      const room = backtestRoom(parsed.id);
      await socket.join(room);
      try {
        const snapshot = await jobs.snapshot(parsed.id);
        if (snapshot === undefined) {
          await socket.leave(room);
          reply({ error: backtestNotFound(parsed.id).toBody() } satisfies ErrorReply);
          return;
        }
        reply({ snapshot, worker: workerLabel });
      } catch (err) {
        await socket.leave(room);
        reply({ error: toErrorBody(err, logger) } satisfies ErrorReply);
      }
    });

    socket.on("unsubscribe", async (request: unknown, ack?: unknown) => {
      const parsed = parseSubscription(request);
      const reply = typeof ack === "function" ? (ack as (value: unknown) => void) : undefined;
      if (parsed instanceof ApiError) {
        reply?.({ error: parsed.toBody() } satisfies ErrorReply);
        return;
      }
      await socket.leave(backtestRoom(parsed.id));
      reply?.({ ok: true });
    });
  });
}

function parseSubscription(request: unknown): { id: string } | ApiError {
  if (typeof request !== "object" || request === null) {
    return validationFailed('subscribe and unsubscribe take an object like { "id": "<backtest id>" }', "id");
  }
  const parsed = subscriptionSchema.safeParse(request);
  return parsed.success ? parsed.data : zodIssueToError(parsed.error.issues[0]);
}

function toErrorBody(err: unknown, logger: Logger) {
  if (err instanceof ApiError) return err.toBody();
  logger.error({ err }, "subscribe failed");
  return INTERNAL_ERROR_BODY;
}
