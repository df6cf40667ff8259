import type { Candles } from "../../src/data/candles";
import { type BrokerOptionsInput, resolveBrokerOptions } from "../../src/engine/broker-options";
import { Simulation, type SimulationOutput } from "../../src/engine/simulation";
import type { StrategyContext, StrategyInstance } from "../../src/engine/strategy";

/** Builds a strategy that runs the given actions at chosen bars. It has no indicators, so trading starts at bar 1. */
export function scripted(actions: Record<number, (context: StrategyContext) => void>): StrategyInstance {
  return {
    indicators: {},
    next(context) {
      actions[context.bar]?.(context);
    },
  };
}

/** Runs a strategy instance over the candles with the given broker options. */
export function simulate(
  candles: Candles,
  strategy: StrategyInstance,
  options: BrokerOptionsInput = {},
): SimulationOutput {
  const simulation = new Simulation(candles, strategy, resolveBrokerOptions(options));
  simulation.advance(candles.length);
  return simulation.finish();
}
