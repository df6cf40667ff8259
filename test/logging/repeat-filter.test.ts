import { describe, expect, it } from "vitest";

import { createRepeatFilter } from "../../src/logging/repeat-filter";

describe("createRepeatFilter", () => {
  it("admits a new key at once", () => {
    const filter = createRepeatFilter(1000, () => 0);
    expect(filter.admit("ECONNREFUSED")).toBe(0);
    expect(filter.admit("WRONGPASS")).toBe(0);
  });

  it("counts repeats within the interval", () => {
    let now = 0;
    const filter = createRepeatFilter(1000, () => now);
    expect(filter.admit("ECONNREFUSED")).toBe(0);
    now = 500;
    expect(filter.admit("ECONNREFUSED")).toBeUndefined();
    expect(filter.admit("ECONNREFUSED")).toBeUndefined();
    now = 1000;
    expect(filter.admit("ECONNREFUSED")).toBe(2);
  });

  it("reset returns and clears the count", () => {
    const filter = createRepeatFilter(1000, () => 0);
    filter.admit("ECONNREFUSED");
    filter.admit("ECONNREFUSED");
    expect(filter.reset()).toBe(1);
    expect(filter.admit("ECONNREFUSED")).toBe(0);
  });
});
