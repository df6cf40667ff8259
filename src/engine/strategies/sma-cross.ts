import { createMovingAverageCross, type MovingAverageCrossParams } from "./moving-average-cross";

export type SmaCrossParams = MovingAverageCrossParams;

/** Crossover of two simple moving averages, backtesting.py's `SmaCross` example. */
export const smaCross = createMovingAverageCross({ name: "sma-cross", average: "sma" });
