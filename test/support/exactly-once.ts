import { expect } from "vitest";

import type { BacktestEvent } from "../../src/hubs/backtest-events";

/**
 * Asserts that a raw subscriber saw each event after its snapshot exactly once: no seq twice,
 * no gap from `fromSeq + 1` to the terminal event, and exactly one terminal event, the last.
 */
export function expectExactlyOnce(
  events: BacktestEvent[],
  fromSeq: number,
  terminal: BacktestEvent["type"] = "completed",
): void {
  const seqs = events.map((event) => event.seq);
  expect(new Set(seqs).size, `duplicate seq in ${seqs.join(",")}`).toBe(seqs.length);

  const after = events.filter((event) => event.seq > fromSeq).map((event) => event.seq);
  const last = Math.max(fromSeq, ...after);
  const expected = Array.from({ length: last - fromSeq }, (_, i) => fromSeq + 1 + i);
  expect(after.sort((a, b) => a - b)).toEqual(expected);

  const terminals = events.filter((event) => event.type !== "progress");
  expect(terminals.map((event) => event.type)).toEqual([terminal]);
  expect(terminals[0]?.seq).toBe(last);
}
