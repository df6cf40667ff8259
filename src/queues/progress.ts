import type { Progress } from "../hubs/backtest-events";

/** Builds the progress triple; `percent` runs from 0 to 100 with two decimals. */
export function toProgress(processed: number, total: number): Progress {
  const percent = total <= 0 ? 0 : Math.min(100, Math.round((processed / total) * 10_000) / 100);
  return { processed, total, percent };
}
