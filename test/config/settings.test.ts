import os from "node:os";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { ConfigError } from "../../src/config/config-error";
import { SETTINGS_REFERENCE, loadSettings } from "../../src/config/settings";

/** Loads settings from `env` expecting a ConfigError, and returns it. */
function loadError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadSettings(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`${JSON.stringify(env)} was accepted`);
}

describe("loadSettings", () => {
  it("applies defaults to an empty environment", () => {
    const settings = loadSettings({});

    expect(settings).toEqual({
      port: 3000,
      host: undefined,
      webConcurrency: os.availableParallelism(),
      jobProcesses: 1,
      jobConcurrency: 1,
      logLevel: "info",
      resultTtlS: 604_800,
      respawnBackoffMs: 1000,
      shutdownTimeoutMs: 10_000,
      lockDurationMs: 30_000,
      stalledIntervalMs: 30_000,
      instanceId: `${os.hostname()}-${process.pid}`,
      redisPrefix: "backplane",
      dataDir: path.resolve(".data"),
      maxUploadBytes: 536_870_912,
      clientTransports: "auto",
      redis: undefined,
    });
  });

  it("reads every variable", () => {
    const settings = loadSettings({
      PORT: "0",
      HOST: "::1",
      WEB_CONCURRENCY: "3",
      JOB_PROCESSES: "0",
      JOB_CONCURRENCY: "4",
      LOG_LEVEL: "DEBUG",
      RESULT_TTL_S: "60",
      RESPAWN_BACKOFF_MS: "50",
      SHUTDOWN_TIMEOUT_MS: "2000",
      LOCK_DURATION_MS: "500",
      STALLED_INTERVAL_MS: "250",
      INSTANCE_ID: "host-a.1",
      REDIS_PREFIX: "test-3f2a",
      REDIS_URL: "redis://127.0.0.1:6390/1",
    });

    expect(settings).toMatchObject({
      port: 0,
      host: "::1",
      webConcurrency: 3,
      jobProcesses: 0,
      jobConcurrency: 4,
      logLevel: "debug",
      resultTtlS: 60,
      respawnBackoffMs: 50,
      shutdownTimeoutMs: 2000,
      lockDurationMs: 500,
      stalledIntervalMs: 250,
      instanceId: "host-a.1",
      redisPrefix: "test-3f2a",
    });
    expect(settings.redis?.connection.hosts).toEqual([{ host: "127.0.0.1", port: 6390 }]);
  });

  it("treats empty and blank values as unset", () => {
    const settings = loadSettings({ PORT: "", LOG_LEVEL: "  ", ConnectionStrings__Redis: "", REDIS_URL: " " });

    expect(settings.port).toBe(3000);
    expect(settings.logLevel).toBe("info");
    expect(settings.redis).toBeUndefined();
  });

  const invalid: { variable: string; value: string }[] = [
    { variable: "PORT", value: "abc" },
    { variable: "PORT", value: "65536" },
    { variable: "PORT", value: "-1" },
    { variable: "PORT", value: "3000.5" },
    { variable: "HOST", value: "[::1]" },
    { variable: "HOST", value: "local host" },
    { variable: "WEB_CONCURRENCY", value: "0" },
    { variable: "JOB_PROCESSES", value: "two" },
    { variable: "JOB_CONCURRENCY", value: "0" },
    { variable: "LOG_LEVEL", value: "verbose" },
    { variable: "RESULT_TTL_S", value: "0" },
    { variable: "RESPAWN_BACKOFF_MS", value: "1e3" },
    { variable: "SHUTDOWN_TIMEOUT_MS", value: "0" },
    { variable: "LOCK_DURATION_MS", value: "30s" },
    { variable: "STALLED_INTERVAL_MS", value: "-5" },
    { variable: "INSTANCE_ID", value: "a b" },
    { variable: "REDIS_PREFIX", value: "a:b" },
  ];

  for (const { variable, value } of invalid) {
    it(`rejects ${variable}=${value}`, () => {
      const error = loadError({ [variable]: value });

      expect(error.variable).toBe(variable);
      expect(error.issues).toHaveLength(1);
      expect(error.message).toMatch(new RegExp(`^${variable}="`));
      expect(error.message).toContain(`"${value}"`);
      expect(error.message).toContain("expected");
    });
  }

  it("reports every invalid variable at once", () => {
    const error = loadError({ PORT: "x", LOG_LEVEL: "loud", REDIS_URL: "redis://:hunter2@host:x" });

    expect(error.issues.map((issue) => issue.variable)).toEqual(["PORT", "LOG_LEVEL", "REDIS_URL"]);
    expect(error.message.split("\n")).toHaveLength(3);
    expect(error.message).not.toContain("hunter2");
  });
});

describe("Redis settings", () => {
  it("prefers ConnectionStrings__Redis over REDIS_URL", () => {
    const settings = loadSettings({
      ConnectionStrings__Redis: "primary:6380,password=p@ss:w/o=r+d%#1",
      REDIS_URL: "redis://other:6379",
    });

    expect(settings.redis?.variable).toBe("ConnectionStrings__Redis");
    expect(settings.redis?.connection.hosts).toEqual([{ host: "primary", port: 6380 }]);
    expect(settings.redis?.connection.password).toBe("p@ss:w/o=r+d%#1");
    expect(settings.redis?.masked).toBe("primary:6380,password=****");
  });

  it("falls through an empty ConnectionStrings__Redis to REDIS_URL", () => {
    const settings = loadSettings({ ConnectionStrings__Redis: "", REDIS_URL: "redis://:pw@other:6379" });

    expect(settings.redis?.variable).toBe("REDIS_URL");
    expect(settings.redis?.masked).toBe("redis://:****@other:6379");
  });

  it("names ConnectionStrings__Redis when it is invalid", () => {
    const error = loadError({ ConnectionStrings__Redis: "cache:x,password=hunter2", REDIS_URL: "redis://ok" });

    expect(error.variable).toBe("ConnectionStrings__Redis");
    expect(error.message).not.toContain("hunter2");
  });
});

describe("SETTINGS_REFERENCE", () => {
  it("lists every variable once", () => {
    const variables = SETTINGS_REFERENCE.map((row) => row.variable);

    expect(new Set(variables).size).toBe(variables.length);
    expect(variables).toContain("PORT");
    expect(variables).toContain("REDIS_PREFIX");
    expect(variables).toContain("ConnectionStrings__Redis, then REDIS_URL");
    expect(variables).toHaveLength(Object.keys(loadSettings({})).length);
  });
});
