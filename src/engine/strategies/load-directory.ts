import { readdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

import { registerStrategy } from "./registry";

/** A strategy module that could not be loaded or registered. */
export class StrategyLoadError extends Error {
  override readonly name = "StrategyLoadError";

  /**
   * @param file Absolute path of the module, or of the directory when it cannot be read.
   * @param reason What went wrong and what to do.
   */
  constructor(
    readonly file: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`Strategy module ${file} not loaded: ${reason}`, options);
  }
}

const requireModule = createRequire(__filename);

/**
 * Loads every `.js` file directly in `directory` (compiled CommonJS, not subfolders), in name
 * order, and registers the strategy that each exports as `default` or as `strategy`. Returns the
 * names registered. Meant for startup: the first module that fails to load, exports no strategy,
 * has an invalid shape or reuses a registered name throws a `StrategyLoadError` naming its file,
 * and the modules loaded before it stay registered.
 */
export function loadStrategyDirectory(directory: string): string[] {
  const absolute = path.resolve(directory);
  let files: string[];
  try {
    files = readdirSync(absolute, { withFileTypes: true })
      .filter((entry) => entry.isFile() && entry.name.endsWith(".js"))
      .map((entry) => path.join(absolute, entry.name))
      .sort();
  } catch (error) {
    throw new StrategyLoadError(absolute, `the directory cannot be read (${describe(error)}): check STRATEGIES_DIR`, {
      cause: error,
    });
  }

  return files.map((file) => loadStrategyFile(file));
}

function loadStrategyFile(file: string): string {
  let exported: unknown;
  try {
    exported = requireModule(file);
  } catch (error) {
    throw new StrategyLoadError(file, `requiring it failed: ${describe(error)}`, { cause: error });
  }

  const candidate = strategyExport(exported);
  if (candidate === undefined) {
    throw new StrategyLoadError(file, 'it exports no strategy: use "export default" or "export const strategy"');
  }
  try {
    return registerStrategy(candidate, file).name;
  } catch (error) {
    throw new StrategyLoadError(file, describe(error), { cause: error });
  }
}

function strategyExport(exported: unknown): unknown {
  if (typeof exported !== "object" || exported === null) return undefined;
  const module = exported as { default?: unknown; strategy?: unknown };
  return module.default ?? module.strategy;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
