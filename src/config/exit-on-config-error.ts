import { ConfigError } from "./config-error";

/**
 * Runs `load` and returns its result. On a ConfigError it writes the error's lines to stderr and
 * exits with code 1 before anything else starts; other errors are rethrown.
 */
export function exitOnConfigError<T>(load: () => T): T {
  try {
    return load();
  } catch (error) {
    if (!(error instanceof ConfigError)) {
      throw error;
    }
    process.stderr.write(`Backplane did not start because the configuration is invalid:\n${error.message}\n`);
    process.exit(1);
  }
}
