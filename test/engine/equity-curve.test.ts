import { describe, expect, it } from "vitest";

import { MAX_EQUITY_POINTS, downsampleIndices } from "../../src/engine";

describe("downsampleIndices", () => {
  it("keeps a short series whole", () => {
    expect(downsampleIndices(Float64Array.from([3, 1, 2]), 10)).toEqual([0, 1, 2]);
  });

  it("keeps ends and extremes of a long series", () => {
    const values = new Float64Array(100_003).map((_, i) => Math.sin(i / 500) * 100 + i / 1000);
    values[54_321] = -1_000;
    values[77_777] = 5_000;
    const indices = downsampleIndices(values, MAX_EQUITY_POINTS);

    expect(indices.length).toBeLessThanOrEqual(MAX_EQUITY_POINTS);
    expect(indices[0]).toBe(0);
    expect(indices.at(-1)).toBe(values.length - 1);
    expect(indices).toContain(54_321);
    expect(indices).toContain(77_777);
    for (let k = 1; k < indices.length; k++) {
      expect(indices[k] as number).toBeGreaterThan(indices[k - 1] as number);
    }
  });
});
