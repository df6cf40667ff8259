import { afterEach, describe, expect, it, vi } from "vitest";

import { ConfigError } from "../../src/config/config-error";
import { exitOnConfigError } from "../../src/config/exit-on-config-error";

class ExitCalled extends Error {
  constructor(readonly code: string | number | null | undefined) {
    super(`process.exit(${String(code)})`);
  }
}

describe("exitOnConfigError", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("returns the loaded value", () => {
    expect(exitOnConfigError(() => 42)).toBe(42);
  });

  it("prints the issues and exits with 1", () => {
    const exit = vi.spyOn(process, "exit").mockImplementation((code) => {
      throw new ExitCalled(code);
    });
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);

    expect(() =>
      exitOnConfigError(() => {
        throw new ConfigError([{ variable: "PORT", message: 'PORT="x" is invalid' }]);
      }),
    ).toThrow(ExitCalled);

    expect(exit).toHaveBeenCalledWith(1);
    expect(String(stderr.mock.calls[0]?.[0])).toContain('PORT="x" is invalid');
  });

  it("rethrows other errors", () => {
    expect(() =>
      exitOnConfigError(() => {
        throw new TypeError("bug");
      }),
    ).toThrow(TypeError);
  });
});
