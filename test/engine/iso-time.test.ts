import { describe, expect, it } from "vitest";

import { formatIsoTime } from "../../src/engine/iso-time";

describe("formatIsoTime", () => {
  it("matches toISOString on bar times", () => {
    const start = Date.UTC(2024, 0, 1);
    for (let k = 0; k < 5_000; k++) {
      const time = start + k * 60_000 * 37 + (k % 3) * 1_234;
      expect(formatIsoTime(time)).toBe(new Date(time).toISOString());
    }
  });

  it.each([
    0,
    -1,
    Date.UTC(1969, 11, 31, 23, 59, 59, 999),
    -62_167_219_200_000,
    -62_167_219_200_001,
    253_402_300_799_999,
    253_402_300_800_000,
    1.5,
  ])("matches toISOString at %d", (time) => {
    expect(formatIsoTime(time)).toBe(new Date(time).toISOString());
  });
});
