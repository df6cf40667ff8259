import { describe, expect, it } from "vitest";

import type { RedisConnection } from "../../src/config/redis-connection-string";
import { REDIS_HOST_VARIABLE, redisConnectionForChild, redisHostEnvironment } from "../../src/redis/child-connection";

const connection: RedisConnection = {
  hosts: [
    { host: "a", port: 6379 },
    { host: "::1", port: 6380 },
    { host: "c", port: 6381 },
  ],
  password: "pw",
  tls: false,
  db: 2,
  warnings: [],
};

describe("redisConnectionForChild", () => {
  it("moves the selected host to the front", () => {
    const child = redisConnectionForChild(connection, { [REDIS_HOST_VARIABLE]: "c:6381" });

    expect(child.hosts).toEqual([
      { host: "c", port: 6381 },
      { host: "a", port: 6379 },
      { host: "::1", port: 6380 },
    ]);
    expect(child.password).toBe("pw");
    expect(child.db).toBe(2);
  });

  it("accepts IPv6 with and without brackets", () => {
    for (const value of ["[::1]:6380", "::1:6380"]) {
      expect(redisConnectionForChild(connection, { [REDIS_HOST_VARIABLE]: value }).hosts[0]).toEqual({
        host: "::1",
        port: 6380,
      });
    }
  });

  it("round-trips redisHostEnvironment", () => {
    const env = redisHostEnvironment({ host: "::1", port: 6380 });

    expect(env).toEqual({ [REDIS_HOST_VARIABLE]: "[::1]:6380" });
    expect(redisConnectionForChild(connection, env).hosts[0]).toEqual({ host: "::1", port: 6380 });
  });

  it("ignores an unset variable or a host outside the string", () => {
    expect(redisConnectionForChild(connection, {})).toBe(connection);
    expect(redisConnectionForChild(connection, { [REDIS_HOST_VARIABLE]: "evil:6379" })).toBe(connection);
  });
});
