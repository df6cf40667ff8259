import { describe, expect, it } from "vitest";

import { ConfigError } from "../../src/config/config-error";
import {
  describeRedisConnection,
  maskRedisConnectionString,
  parseRedisConnectionString,
} from "../../src/config/redis-connection-string";

const VARIABLE = "ConnectionStrings__Redis";

/** Parses `value` expecting a ConfigError, and returns it. */
function parseError(value: string): ConfigError {
  try {
    parseRedisConnectionString(value, VARIABLE);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`"${value}" was accepted`);
}

describe("Redis URL", () => {
  it("reads host, port, user, password and database", () => {
    const connection = parseRedisConnectionString("redis://alice:secret@cache.internal:6380/2", VARIABLE);

    expect(connection).toEqual({
      hosts: [{ host: "cache.internal", port: 6380 }],
      username: "alice",
      password: "secret",
      tls: false,
      db: 2,
      warnings: [],
    });
  });

  it("defaults port to 6379 and database to 0", () => {
    const connection = parseRedisConnectionString("redis://localhost", VARIABLE);

    expect(connection.hosts).toEqual([{ host: "localhost", port: 6379 }]);
    expect(connection.db).toBe(0);
    expect(connection.username).toBeUndefined();
    expect(connection.password).toBeUndefined();
  });

  it("rediss means TLS", () => {
    expect(parseRedisConnectionString("rediss://:pw@cache:6380", VARIABLE).tls).toBe(true);
    expect(parseRedisConnectionString("REDISS://cache", VARIABLE).tls).toBe(true);
  });

  it("decodes a percent-encoded password", () => {
    // p@ss:w/o%r#d encoded: @ %40, : %3A, / %2F, % %25, # %23
    const connection = parseRedisConnectionString("redis://:p%40ss%3Aw%2Fo%25r%23d@127.0.0.1:6379/0", VARIABLE);

    expect(connection.password).toBe("p@ss:w/o%r#d");
    expect(connection.username).toBeUndefined();
    expect(connection.hosts).toEqual([{ host: "127.0.0.1", port: 6379 }]);
  });

  it("keeps + in a password literal", () => {
    expect(parseRedisConnectionString("redis://:a+b@host", VARIABLE).password).toBe("a+b");
  });

  it("reads a password with unencoded @ / and #", () => {
    // The user information ends at the last "@", so such passwords survive unencoded.
    const connection = parseRedisConnectionString("redis://user:p@ss/w#rd@host:6379/1", VARIABLE);

    expect(connection.username).toBe("user");
    expect(connection.password).toBe("p@ss/w#rd");
    expect(connection.hosts).toEqual([{ host: "host", port: 6379 }]);
    expect(connection.db).toBe(1);
  });

  it("reads an IPv6 host in brackets", () => {
    expect(parseRedisConnectionString("redis://[::1]:6380", VARIABLE).hosts).toEqual([{ host: "::1", port: 6380 }]);
    expect(parseRedisConnectionString("redis://:pw@[fe80::1]/3", VARIABLE).hosts).toEqual([
      { host: "fe80::1", port: 6379 },
    ]);
  });

  it("reads several hosts", () => {
    const connection = parseRedisConnectionString("redis://a:6379,b:6380,[::1]/4", VARIABLE);

    expect(connection.hosts).toEqual([
      { host: "a", port: 6379 },
      { host: "b", port: 6380 },
      { host: "::1", port: 6379 },
    ]);
    expect(connection.db).toBe(4);
  });

  it("warns about query options by name only", () => {
    const connection = parseRedisConnectionString("redis://host?family=6&token=hidden", VARIABLE);

    expect(connection.warnings).toEqual(['ignored URL query option "family"', 'ignored URL query option "token"']);
    expect(connection.warnings.join(" ")).not.toContain("hidden");
  });

  it("warns about a user name without a password", () => {
    const connection = parseRedisConnectionString("redis://maybe-a-password@host", VARIABLE);

    expect(connection.username).toBe("maybe-a-password");
    expect(connection.warnings).toHaveLength(1);
    expect(connection.warnings[0]).not.toContain("maybe-a-password");
  });

  it("ignores surrounding whitespace", () => {
    expect(parseRedisConnectionString("  redis://host:1234\n", VARIABLE).hosts).toEqual([{ host: "host", port: 1234 }]);
  });
});

describe("StackExchange connection string", () => {
  it("reads a password with @ : / = + % #", () => {
    const connection = parseRedisConnectionString("cache:6380,password=p@ss:w/o=r+d%#1,ssl=true", VARIABLE);

    expect(connection).toEqual({
      hosts: [{ host: "cache", port: 6380 }],
      password: "p@ss:w/o=r+d%#1",
      tls: true,
      db: 0,
      warnings: [],
    });
  });

  it("reads every supported option", () => {
    const connection = parseRedisConnectionString(
      "cache:6380,user=app,password=pw,ssl=true,sslHost=redis.example.com,abortConnect=false,connectTimeout=5000,defaultDatabase=2",
      VARIABLE,
    );

    expect(connection).toEqual({
      hosts: [{ host: "cache", port: 6380 }],
      username: "app",
      password: "pw",
      tls: true,
      tlsServername: "redis.example.com",
      abortConnect: false,
      connectTimeoutMs: 5000,
      db: 2,
      warnings: [],
    });
  });

  it("treats option names case-insensitively", () => {
    const connection = parseRedisConnectionString(
      "cache,PASSWORD=Secret,AbortConnect=False,SSL=TRUE,DefaultDatabase=5",
      VARIABLE,
    );

    expect(connection.password).toBe("Secret");
    expect(connection.abortConnect).toBe(false);
    expect(connection.tls).toBe(true);
    expect(connection.db).toBe(5);
  });

  it("defaults a bare host to port 6379", () => {
    expect(parseRedisConnectionString("localhost", VARIABLE).hosts).toEqual([{ host: "localhost", port: 6379 }]);
  });

  it("reads several hosts and IPv6 in brackets", () => {
    const connection = parseRedisConnectionString("primary:6379, replica:6380 ,[::1]:6381,[::2],password=x", VARIABLE);

    expect(connection.hosts).toEqual([
      { host: "primary", port: 6379 },
      { host: "replica", port: 6380 },
      { host: "::1", port: 6381 },
      { host: "::2", port: 6379 },
    ]);
  });

  it("warns about an unknown option by name, not value", () => {
    const connection = parseRedisConnectionString("cache,keepAlive=60,sslPassword=hidden-value", VARIABLE);

    expect(connection.warnings).toEqual(['ignored unknown option "keepAlive"', 'ignored unknown option "sslPassword"']);
    expect(connection.warnings.join(" ")).not.toContain("hidden-value");
  });

  it("ignores syncTimeout and asyncTimeout without a warning", () => {
    const connection = parseRedisConnectionString("cache,syncTimeout=5000,asyncTimeout=5000", VARIABLE);

    expect(connection.warnings).toEqual([]);
  });

  it("skips empty items", () => {
    expect(parseRedisConnectionString("cache,,password=pw,", VARIABLE).password).toBe("pw");
  });

  it("lets the last occurrence of an option win", () => {
    expect(parseRedisConnectionString("cache,password=first,password=second", VARIABLE).password).toBe("second");
  });
});

describe("invalid connection string", () => {
  const password = "p@ss:w/o=r+d%#1";
  const cases: { name: string; value: string; reason: string }[] = [
    { name: "URL port not a number", value: `redis://:${encodeURIComponent(password)}@host:x`, reason: 'port "x"' },
    {
      name: "URL port out of range",
      value: `redis://:${encodeURIComponent(password)}@host:65536`,
      reason: 'port "65536"',
    },
    { name: "URL empty host", value: `redis://:${encodeURIComponent(password)}@`, reason: "a host is empty" },
    {
      name: "URL empty host with port",
      value: `redis://:${encodeURIComponent(password)}@:6379`,
      reason: "empty host name",
    },
    { name: "URL bad scheme", value: `http://:${encodeURIComponent(password)}@host`, reason: 'scheme "http"' },
    { name: "URL bad database", value: `redis://:${encodeURIComponent(password)}@host/abc`, reason: 'database "abc"' },
    {
      name: "URL negative database",
      value: `redis://:${encodeURIComponent(password)}@host/-1`,
      reason: 'database "-1"',
    },
    { name: "URL bad percent-encoding", value: `redis://:${password}@host`, reason: "percent-encoding" },
    { name: "URL unbracketed IPv6", value: `redis://:${encodeURIComponent(password)}@::1:6379`, reason: "brackets" },
    { name: "StackExchange port", value: `cache:x,password=${password}`, reason: 'port "x"' },
    { name: "StackExchange port zero", value: `cache:0,password=${password}`, reason: 'port "0"' },
    { name: "StackExchange no host", value: `password=${password},ssl=true`, reason: "no host" },
    { name: "StackExchange empty host", value: `:6379,password=${password}`, reason: "empty host name" },
    {
      name: "StackExchange bad database",
      value: `cache,password=${password},defaultDatabase=two`,
      reason: 'defaultDatabase "two"',
    },
    { name: "StackExchange bad ssl", value: `cache,password=${password},ssl=yes`, reason: 'ssl "yes"' },
    {
      name: "StackExchange bad connectTimeout",
      value: `cache,password=${password},connectTimeout=5s`,
      reason: 'connectTimeout "5s"',
    },
    { name: "StackExchange bad IPv6", value: `[::g]:6379,password=${password}`, reason: "not a valid IPv6 address" },
    {
      name: "StackExchange URL without scheme",
      value: `user:${password}@cache:6379`,
      reason: "redis:// or rediss:// scheme",
    },
    { name: "StackExchange URL without user", value: `:pw@cache:6379`, reason: 'a host contains "@"' },
    { name: "StackExchange unnamed option", value: `cache,=${password}`, reason: "no name" },
    { name: "StackExchange malformed item", value: `cache,pass word=${password}`, reason: "neither a host" },
    { name: "empty", value: "  ", reason: "it is empty" },
  ];

  for (const { name, value, reason } of cases) {
    it(`rejects ${name}`, () => {
      const error = parseError(value);

      expect(error.variable).toBe(VARIABLE);
      expect(error.message).toMatch(new RegExp(`^${VARIABLE}="`));
      expect(error.message).toContain(reason);
      expect(error.message).toContain("Use a redis:// or rediss:// URL");
      expect(error.message).not.toContain(password);
      expect(error.message).not.toContain(encodeURIComponent(password));
    });
  }

  it("quotes the masked value", () => {
    const error = parseError("redis://:hunter2@host:x");

    expect(error.message).toBe(
      `${VARIABLE}="redis://:****@host:x" is not a valid Redis connection string: port "x" must be a number from 1 to 65535. ` +
        "Use a redis:// or rediss:// URL or the StackExchange form host:port,password=...",
    );
  });
});

describe("masking", () => {
  it("masks a URL password", () => {
    expect(maskRedisConnectionString("redis://user:p%40ss@host:6379/2")).toBe("redis://user:****@host:6379/2");
    expect(maskRedisConnectionString("rediss://:p@ss/w#rd@host")).toBe("rediss://:****@host");
  });

  it("masks a lone URL user name", () => {
    expect(maskRedisConnectionString("redis://secret@host")).toBe("redis://****@host");
  });

  it("masks secret-looking URL query options", () => {
    expect(maskRedisConnectionString("redis://host?password=x&family=6")).toBe("redis://host?password=****&family=6");
  });

  it("masks StackExchange passwords in any case", () => {
    expect(maskRedisConnectionString("a:1,b:2,Password=p@ss:w/o=r+d%#1,ssl=true")).toBe(
      "a:1,b:2,Password=****,ssl=true",
    );
    expect(maskRedisConnectionString("a,sslPassword=x")).toBe("a,sslPassword=****");
  });

  it("masks the user information of a URL without scheme", () => {
    expect(maskRedisConnectionString("user:pw@cache:6379")).toBe("****@cache:6379");
    // Regression: the "=" in this password once made the item read as an option named "user:p@ss:w/o".
    expect(maskRedisConnectionString("user:p@ss:w/o=r+d%#1@cache:6379")).toBe("****@cache:6379");
  });

  it("masks an item that is neither host nor option", () => {
    expect(maskRedisConnectionString("cache,=p@ss:w/o=r+d%#1")).toBe("cache,****");
    expect(maskRedisConnectionString("cache,a b=c")).toBe("cache,****");
  });

  it("leaves a string without secrets unchanged", () => {
    expect(maskRedisConnectionString("redis://host:6379/0")).toBe("redis://host:6379/0");
    expect(maskRedisConnectionString("cache:6379,ssl=true")).toBe("cache:6379,ssl=true");
  });
});

describe("describeRedisConnection", () => {
  it("writes a masked URL", () => {
    const connection = parseRedisConnectionString("127.0.0.1:6379,user=user,password=pw,defaultDatabase=2", VARIABLE);

    expect(describeRedisConnection(connection)).toBe("redis://user:****@127.0.0.1:6379/2");
  });

  it("lists several hosts, brackets IPv6 and marks TLS", () => {
    const connection = parseRedisConnectionString("a:1,[::1]:2,password=pw,ssl=true", VARIABLE);

    expect(describeRedisConnection(connection)).toBe("rediss://:****@a:1,[::1]:2/0");
  });

  it("writes no user information without credentials", () => {
    expect(describeRedisConnection(parseRedisConnectionString("redis://h", VARIABLE))).toBe("redis://h:6379/0");
  });

  it("parses its own output back", () => {
    const connection = parseRedisConnectionString("a:1,[::1]:2,defaultDatabase=3", VARIABLE);

    expect(parseRedisConnectionString(describeRedisConnection(connection), VARIABLE).hosts).toEqual(connection.hosts);
  });
});
