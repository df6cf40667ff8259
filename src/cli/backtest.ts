/**
 * `npm run backtest`: submits a backtest to Backplane, follows it over socket.io and prints its statistics.
 * Run with --help for the options and exit codes.
 */
import {
  BacktestApiError,
  BacktestConnectionError,
  createBacktestClient,
  type BacktestClient,
} from "../client/backtest-client";
import { describeError } from "../client/errors";
import type { BacktestSnapshot } from "../hubs/backtest-events";
import { USAGE, UsageError, parseCommandLine, type BacktestCommand } from "./arguments";
import { createProgressReporter, type ProgressReporter } from "./progress-reporter";
import { formatStatsTable } from "./stats-table";

export const EXIT_CODES = {
  completed: 0,
  failedOrCancelled: 1,
  usage: 2,
  unreachable: 3,
  interrupted: 130,
} as const;

/** Maximum time in ms of each REST request, so that an unreachable server fails within a few seconds. */
const REQUEST_TIMEOUT_MS = 5_000;

const UNREACHABLE_HINT = "Start it with npm start or pass --url.";

/** Runs the CLI and returns its exit code. */
export async function main(args: string[]): Promise<number> {
  let command: BacktestCommand;
  try {
    const parsed = parseCommandLine(args);
    if (parsed.kind === "help") {
      await writeStdout(USAGE);
      return EXIT_CODES.completed;
    }
    command = parsed.command;
  } catch (error) {
    if (error instanceof UsageError) {
      return reportUsageError(error.message);
    }
    throw error;
  }

  let client: BacktestClient;
  try {
    client = createBacktestClient({
      url: command.url,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      // Without --transports, the server names them: websocket only when it may run as several instances.
      transports: command.transports ?? "server",
    });
  } catch (error) {
    // createBacktestClient throws TypeError for a --url that is not an http(s) origin.
    return reportUsageError(describeError(error));
  }

  const interrupt = watchInterrupt();
  try {
    return await runBacktest(client, command, interrupt);
  } finally {
    interrupt.dispose();
    client.close();
  }
}

async function runBacktest(client: BacktestClient, command: BacktestCommand, interrupt: Interrupt): Promise<number> {
  const reporter = createProgressReporter(process.stderr);

  // Submit. A Ctrl-C meanwhile is handled once the id is known, so that the backtest can still be cancelled.
  let id: string;
  try {
    id = await client.submit(command.request);
  } catch (error) {
    return reportSubmitError(error, client.url);
  }
  interrupt.setBacktestId(id);
  if (interrupt.interrupted) {
    return cancelBacktest(client, id);
  }
  reporter.log(`backtest ${id} submitted to ${client.url}`);

  // Follow until a terminal state, a fatal error or Ctrl-C.
  const follow = client.follow(id, followHandlers(client, id, reporter));
  const outcome = await Promise.race([
    follow.done.then(
      (snapshot) => ({ kind: "finished", snapshot }) as const,
      (error: unknown) => ({ kind: "error", error }) as const,
    ),
    interrupt.signal.then(() => ({ kind: "interrupted" }) as const),
  ]);
  reporter.clear();

  switch (outcome.kind) {
    case "interrupted":
      follow.unsubscribe();
      return cancelBacktest(client, id);
    case "error":
      return reportFollowError(outcome.error, id);
    case "finished":
      return reportOutcome(outcome.snapshot, command.json);
  }
}

function followHandlers(client: BacktestClient, id: string, reporter: ProgressReporter) {
  let shownWorker: string | undefined;
  let lastWarning: string | undefined;

  return {
    onSnapshot(snapshot: BacktestSnapshot): void {
      // A new worker after a reconnect shows that the follow moved, e.g. during a rolling restart.
      if (client.worker !== undefined && client.worker !== shownWorker) {
        shownWorker = client.worker;
        reporter.log(`following backtest ${id} on worker ${shownWorker}`);
      }
      reporter.update(snapshot.progress);
    },
    onProgress(progress: BacktestSnapshot["progress"]): void {
      reporter.update(progress);
    },
    onError(error: Error): void {
      // socket.io retries every few seconds while the server is down, so repeat a warning only when it changes.
      if (error.message !== lastWarning) {
        lastWarning = error.message;
        reporter.log(`warning: ${error.message}`);
      }
    },
  };
}

async function reportOutcome(snapshot: BacktestSnapshot, json: boolean): Promise<number> {
  const { id, state } = snapshot;

  if (state === "completed" && snapshot.result !== undefined) {
    const output = json ? `${JSON.stringify(snapshot.result, null, 2)}\n` : formatStatsTable(snapshot.result.stats);
    await writeStdout(output);
    return EXIT_CODES.completed;
  }
  if (state === "failed") {
    const error = snapshot.error;
    const reason = error === undefined ? "no error was reported" : `${error.message} (${error.code})`;
    process.stderr.write(`backtest ${id} failed: ${reason}\n`);
    return EXIT_CODES.failedOrCancelled;
  }
  process.stderr.write(`backtest ${id} was ${state} before it completed\n`);
  return EXIT_CODES.failedOrCancelled;
}

function reportSubmitError(error: unknown, url: string): number {
  if (error instanceof BacktestConnectionError) {
    process.stderr.write(`${error.message}. ${UNREACHABLE_HINT}\n`);
    return EXIT_CODES.unreachable;
  }

  if (error instanceof BacktestApiError) {
    if (error.code === "validation_failed") {
      const field = error.field === undefined ? "" : ` (field ${error.field})`;
      return reportUsageError(`the server rejected the backtest request${field}: ${error.message}`);
    }
    if (error.code === "unavailable") {
      // The server's message usually ends with what to do, such as when to retry.
      const advice = error.message.endsWith(".") ? "" : ". Try again later.";
      process.stderr.write(`Backplane at ${url} is unavailable: ${error.message}${advice}\n`);
      return EXIT_CODES.unreachable;
    }
  }
  process.stderr.write(`error: submitting the backtest to ${url} failed: ${describeError(error)}\n`);
  return EXIT_CODES.failedOrCancelled;
}

function reportFollowError(error: unknown, id: string): number {
  if (error instanceof BacktestConnectionError) {
    process.stderr.write(`${error.message}. The backtest ${id} may still be running on the server.\n`);
    return EXIT_CODES.unreachable;
  }
  process.stderr.write(`error: following backtest ${id} failed: ${describeError(error)}\n`);
  return EXIT_CODES.failedOrCancelled;
}

function reportUsageError(message: string): number {
  process.stderr.write(`error: ${message}\nRun with --help for usage.\n`);
  return EXIT_CODES.usage;
}

async function cancelBacktest(client: BacktestClient, id: string): Promise<number> {
  try {
    await client.cancel(id);
    process.stderr.write(`backtest ${id} cancelled\n`);
  } catch (error) {
    if (error instanceof BacktestApiError && error.code === "conflict") {
      process.stderr.write(`backtest ${id} had already finished, nothing to cancel\n`);
    } else {
      process.stderr.write(`error: cancelling backtest ${id} failed: ${describeError(error)}\n`);
    }
  }
  return EXIT_CODES.interrupted;
}

interface Interrupt {
  readonly interrupted: boolean;
  /** Resolves on the first Ctrl-C. */
  readonly signal: Promise<void>;
  setBacktestId(id: string): void;
  dispose(): void;
}

/**
 * Turns the first SIGINT into a cancellation request. A second SIGINT exits at once with 130, without waiting
 * for the server to confirm the cancellation.
 */
function watchInterrupt(): Interrupt {
  let interrupted = false;
  let backtestId: string | undefined;
  let resolveSignal!: () => void;
  const signal = new Promise<void>((resolve) => {
    resolveSignal = resolve;
  });

  const onSigint = (): void => {
    if (interrupted) {
      process.exit(EXIT_CODES.interrupted);
    }
    interrupted = true;
    const target = backtestId === undefined ? "the backtest once it is submitted" : `backtest ${backtestId}`;
    process.stderr.write(`\ninterrupted: cancelling ${target} (press Ctrl-C again to exit without waiting)\n`);
    resolveSignal();
  };
  process.on("SIGINT", onSigint);

  return {
    get interrupted() {
      return interrupted;
    },
    signal,
    setBacktestId(id) {
      backtestId = id;
    },
    dispose() {
      process.off("SIGINT", onSigint);
    },
  };
}

/** Writes to stdout and waits until the text is handed to the OS, so that process.exit cannot cut it off. */
function writeStdout(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(text, (error) => (error ? reject(error) : resolve()));
  });
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`error: ${describeError(error)}\n`);
      process.exit(EXIT_CODES.failedOrCancelled);
    },
  );
}
