import { createMovingAverageCross, type MovingAverageCrossParams } from "./moving-average-cross";

export type EmaCrossParams = MovingAverageCrossParams;

/** Crossover of two exponential moving averages (see `ema` for the seeding). */
export const emaCross = createMovingAverageCross({ name: "ema-cross", average: "ema" });
