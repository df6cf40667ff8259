/** The strategy registry, the built-in strategies and the loader of strategy plug-in directories. */
export { type StartupLogger, loadStrategiesAtStartup } from "./load-at-startup";
export { StrategyLoadError, loadStrategyDirectory } from "./load-directory";
export { getStrategy, hasStrategy, listStrategies, registerStrategy } from "./registry";
