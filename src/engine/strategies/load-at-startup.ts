import { StrategyLoadError, loadStrategyDirectory } from "./load-directory";

/** The two pino methods that startup loading uses, so that the engine does not depend on pino. */
export interface StartupLogger {
  info(fields: object, message: string): void;
  fatal(fields: object, message: string): void;
}

/**
 * Loads the strategy plug-ins of STRATEGIES_DIR (`Settings.strategiesDir`) while a process starts,
 * before it serves anything. Does nothing when `directory` is undefined. With a logger, it logs
 * the names loaded, and on a module that fails it logs the error with the file and exits the
 * process with code 1. Without a logger (in a worker thread) it returns the names or throws the
 * `StrategyLoadError`.
 */
export function loadStrategiesAtStartup(directory: string | undefined, logger?: StartupLogger): string[] {
  if (directory === undefined) return [];

  try {
    const names = loadStrategyDirectory(directory);
    logger?.info({ directory, strategies: names }, "strategy plug-ins loaded");
    return names;
  } catch (error) {
    if (logger === undefined || !(error instanceof StrategyLoadError)) throw error;
    logger.fatal(
      { err: error, file: error.file },
      "strategy plug-in not loaded; fix or remove the module, or unset STRATEGIES_DIR",
    );
    process.exit(1);
  }
}
