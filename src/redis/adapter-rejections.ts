import type { Redis } from "ioredis";

import type { Logger } from "../logging/logger";
import { createRepeatFilter } from "../logging/repeat-filter";
import { createSecretScrubber } from "../logging/scrub-secrets";
import { toLoggableRedisError } from "./error-log";

export interface AdapterRejectionOptions {
  /** Secrets to scrub from logged errors: a rejected command's error carries the AUTH arguments. */
  secrets: readonly string[];
  /** Minimum time between two log lines about rejected publishes. */
  intervalMs: number;
}

/**
 * Handles the command rejections that the socket.io Redis adapter (8.x) leaves unhandled. The
 * adapter ignores the promises of its PUBLISH, SUBSCRIBE and PSUBSCRIBE calls, and ioredis
 * rejects every queued command when a connection fails for good, on a wrong password for one.
 * Node would then end the process on the unhandled rejection. A rejected subscription is sent
 * again when the subscriber is next ready, because ioredis restores only the subscriptions that
 * succeeded. A rejected publish is logged, since the adapter never sends it again.
 */
export function handleAdapterRejections(
  publisher: Redis,
  subscriber: Redis,
  logger: Logger,
  options: AdapterRejectionOptions,
): void {
  const scrub = createSecretScrubber(options.secrets);
  const loggable = (err: unknown) => (err instanceof Error ? toLoggableRedisError(err, scrub) : err);

  for (const command of ["subscribe", "psubscribe"] as const) {
    const original = subscriber[command].bind(subscriber) as (...args: unknown[]) => Promise<unknown>;
    const send = (...args: unknown[]): Promise<unknown> => {
      const reply = original(...args);
      reply.catch((err: unknown) => {
        logger.warn(
          { err: loggable(err), command },
          "Redis adapter subscription failed; sending it again once reconnected",
        );
        subscriber.once("ready", () => void send(...args));
      });
      return reply;
    };
    Object.assign(subscriber, { [command]: send });
  }

  const repeats = createRepeatFilter(options.intervalMs);
  const publish = publisher.publish.bind(publisher) as (...args: unknown[]) => Promise<unknown>;
  const guardedPublish = (...args: unknown[]): Promise<unknown> => {
    const reply = publish(...args);
    reply.catch((err: unknown) => {
      const safe = loggable(err);
      const suppressed = repeats.admit(safe instanceof Error ? safe.message : String(safe));
      if (suppressed !== undefined) logger.warn({ err: safe, suppressed }, "Redis adapter publish failed; dropped");
    });
    return reply;
  };
  Object.assign(publisher, { publish: guardedPublish });
}
