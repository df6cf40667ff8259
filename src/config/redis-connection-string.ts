/**
 * Parsing and masking of Redis connection strings, in the URL form (`redis://`, `rediss://`) and
 * in the StackExchange.Redis form shared with .NET services (`host:port,password=...,ssl=true`).
 */
import { ConfigError } from "./config-error";
import { type RedisConnection, RedisConnectionSyntaxError } from "./redis-connection";
import { URL_SCHEME, maskRedisUrl, parseRedisUrl } from "./redis-url";
import {
  maskStackExchangeConnectionString,
  parseStackExchangeConnectionString,
} from "./stackexchange-connection-string";

export {
  DEFAULT_REDIS_PORT,
  type RedisConnection,
  type RedisHost,
  describeRedisConnection,
  formatRedisHost,
} from "./redis-connection";

/**
 * Parses a Redis connection string read from the environment variable `variable`.
 *
 * A string that starts with `scheme://` is read as a URL, and any scheme other than `redis` and
 * `rediss` is rejected. Anything else is read in the StackExchange.Redis form. Surrounding
 * whitespace is ignored.
 *
 * @throws ConfigError naming the variable, the masked value and what was wrong. The message never
 *   contains the password.
 */
export function parseRedisConnectionString(value: string, variable: string): RedisConnection {
  const trimmed = value.trim();

  try {
    if (trimmed === "") {
      throw new RedisConnectionSyntaxError("it is empty");
    }
    return URL_SCHEME.test(trimmed) ? parseRedisUrl(trimmed) : parseStackExchangeConnectionString(trimmed);
  } catch (error) {
    if (!(error instanceof RedisConnectionSyntaxError)) {
      throw error;
    }
    const message =
      `${variable}="${maskRedisConnectionString(value)}" is not a valid Redis connection string: ${error.message}. ` +
      "Use a redis:// or rediss:// URL or the StackExchange form host:port,password=...";
    throw new ConfigError([{ variable, message }]);
  }
}

/**
 * Masks the secrets of a connection string, valid or not, in whichever form it is written:
 * `redis://user:p%40ss@host:6379` becomes `redis://user:****@host:6379` and
 * `host:6379,password=p@ss` becomes `host:6379,password=****`.
 */
export function maskRedisConnectionString(value: string): string {
  return URL_SCHEME.test(value.trim()) ? maskRedisUrl(value) : maskStackExchangeConnectionString(value);
}
