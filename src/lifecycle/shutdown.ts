import type { Logger } from "pino";

export interface ShutdownStep {
  name: string;
  run: () => Promise<void> | void;
}

export interface ShutdownOptions {
  /** Maximum time the steps may take before the process exits anyway, in milliseconds. */
  timeoutMs: number;
  logger: Logger;
  /** Called once every step has run or the timeout has passed; usually exits the process. */
  exit: (code: number) => void;
}

/** Starts the ordered shutdown; `exitCode` (default 0) is passed to `exit` once every step has run. */
export type Shutdown = (reason: string, exitCode?: number) => Promise<void>;

/**
 * Builds an ordered, run-once shutdown: each step runs after the previous one, a failing step is
 * logged and the next one still runs, and a timer forces the exit when the steps take too long.
 * Only the first call counts, with its reason and exit code.
 */
export function createShutdown(steps: ShutdownStep[], options: ShutdownOptions): Shutdown {
  let running: Promise<void> | undefined;

  return (reason, exitCode = 0) => {
    running ??= runSteps(steps, options, reason, exitCode);
    return running;
  };
}

async function runSteps(
  steps: ShutdownStep[],
  options: ShutdownOptions,
  reason: string,
  exitCode: number,
): Promise<void> {
  const { logger, timeoutMs } = options;
  logger.info({ reason, timeoutMs }, "shutting down");

  const force = setTimeout(() => {
    logger.error({ timeoutMs }, "shutdown timed out; forcing exit");
    options.exit(1);
  }, timeoutMs);
  force.unref();

  for (const step of steps) {
    try {
      await step.run();
    } catch (err) {
      logger.error({ err, step: step.name }, "shutdown step failed; continuing");
    }
  }

  clearTimeout(force);
  logger.info({ reason }, "shutdown complete");
  options.exit(exitCode);
}

/**
 * Logs an uncaught exception or unhandled rejection as fatal and leaves through the ordered
 * shutdown with exit code 1. Logging through pino applies its redaction and secret scrubbing:
 * Node's default report prints every field of the error, and the error of a failed Redis AUTH
 * carries the password in `command.args`.
 */
export function onFatalErrors(shutdown: Shutdown, logger: Logger): void {
  const fail = (event: string) => (err: unknown) => {
    logger.fatal({ err, event }, "fatal error; shutting down");
    void shutdown(event, 1);
  };
  process.on("uncaughtException", fail("uncaughtException"));
  process.on("unhandledRejection", fail("unhandledRejection"));
}

/**
 * Runs the shutdown on the first SIGTERM or SIGINT and forces the exit on the second.
 *
 * A child of the primary (one with an IPC channel) only ever starts the shutdown: Ctrl-C signals
 * the whole process group and the primary then signals its children again, so a child sees two
 * signals in a normal stop. The primary bounds its children's shutdown with SIGKILL instead.
 */
export function onTerminationSignals(shutdown: (reason: string) => Promise<void>, logger: Logger): void {
  const forceOnSecondSignal = process.send === undefined;
  let received = 0;
  const handle = (signal: NodeJS.Signals) => {
    received += 1;
    if (received > 1 && forceOnSecondSignal) {
      logger.warn({ signal }, "second termination signal; exiting now");
      process.exit(1);
    }
    void shutdown(signal);
  };
  process.on("SIGTERM", handle);
  process.on("SIGINT", handle);
}
