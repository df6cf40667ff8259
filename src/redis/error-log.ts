import type { Redis } from "ioredis";

import type { Logger } from "../logging/logger";
import { createRepeatFilter } from "../logging/repeat-filter";
import { createSecretScrubber } from "../logging/scrub-secrets";

/** A copy of an ioredis error that is safe to log under `err`. */
export interface LoggableRedisError extends Error {
  code?: string;
  /** Name of the failed command; its arguments are left out, since for AUTH they are the password. */
  command?: string;
}

/**
 * Copies what is worth logging from an ioredis error: name, message, stack, code and the failed
 * command's name. ioredis sets `err.command.args` on a failed command, which for AUTH contains the
 * password, so the arguments are left out. `scrub` removes known secrets from message and stack.
 *
 * The copy is an Error so that pino's error serializer writes it as one; its `type` is "Error"
 * and `name` keeps the original class, such as "ReplyError".
 */
export function toLoggableRedisError(err: Error, scrub: (text: string) => string): LoggableRedisError {
  const loggable: LoggableRedisError = new Error(scrub(err.message));
  loggable.name = err.name;
  loggable.stack = err.stack === undefined ? undefined : scrub(err.stack);

  if ("code" in err && typeof err.code === "string") {
    loggable.code = err.code;
  }
  if ("command" in err && typeof err.command === "object" && err.command !== null && "name" in err.command) {
    loggable.command = String(err.command.name);
  }
  return loggable;
}

export interface RedisClientLogOptions {
  /** Secrets to scrub from error messages, such as the password the client sends. */
  secrets: readonly string[];
  /** Minimum time between two log lines for the same repeated error. */
  intervalMs: number;
}

/**
 * Attaches `error`, `ready` and `end` listeners that log through `logger`.
 *
 * ioredis emits an error on every failed reconnection attempt, so errors are rate-limited. A new
 * error is logged at once, and the same error again (same code and message) at most once per
 * `intervalMs`. Each line's `suppressed` field counts the repeats left out since the previous
 * line. A `ready` event logs how many errors were left out and starts afresh.
 */
export function logRedisClientEvents(client: Redis, logger: Logger, options: RedisClientLogOptions): void {
  const scrub = createSecretScrubber(options.secrets);
  const repeats = createRepeatFilter(options.intervalMs);

  client.on("error", (err: Error) => {
    const loggable = toLoggableRedisError(err, scrub);
    const suppressed = repeats.admit(`${loggable.code ?? ""} ${loggable.message}`);
    if (suppressed === undefined) return;
    logger.error({ err: loggable, suppressed }, "Redis client error");
  });

  client.on("ready", () => {
    logger.info({ suppressed: repeats.reset() }, "Redis connection ready");
  });

  client.on("end", () => {
    logger.info("Redis connection ended");
  });
}
