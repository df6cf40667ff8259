import { isIPv6 } from "node:net";

export const DEFAULT_REDIS_PORT = 6379;

/** One Redis endpoint. An IPv6 `host` is stored without brackets (`::1`). */
export interface RedisHost {
  host: string;
  port: number;
}

/**
 * A parsed Redis connection string, in either the URL or the StackExchange.Redis form.
 * Passwords are stored decoded, exactly as they are sent with AUTH.
 */
export interface RedisConnection {
  /** Endpoints in the order given; at least one. */
  hosts: RedisHost[];
  username?: string;
  password?: string;
  /** Whether to connect with TLS (`rediss://` or `ssl=true`). */
  tls: boolean;
  /** The name the server's TLS certificate must match when it differs from the host (`sslHost`). */
  tlsServername?: string;
  /** Database index for SELECT; 0 when not given. */
  db: number;
  /** Time allowed for the TCP (and TLS) connection (`connectTimeout`); the client's default when not given. */
  connectTimeoutMs?: number;
  /**
   * StackExchange.Redis `abortConnect`: whether startup should fail when no host is reachable.
   * Undefined when the string does not set it; callers choose their own default.
   */
  abortConnect?: boolean;
  /** Options that were ignored, named without their values, ready to be logged. */
  warnings: string[];
}

/**
 * A syntax problem found by the parsers. The reason never contains a secret, so the caller can
 * put it in a ConfigError next to the masked value.
 */
export class RedisConnectionSyntaxError extends Error {
  override readonly name = "RedisConnectionSyntaxError";
}

/** Formats a host as `host:port`, with an IPv6 address in brackets (`[::1]:6379`). */
export function formatRedisHost({ host, port }: RedisHost): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Formats a parsed connection as a URL that is safe to log: `redis://user:****@127.0.0.1:6379/2`.
 * Several hosts are listed with commas. A user name without a password is masked as well, because
 * `redis://secret@host` is a common way of writing a password by mistake.
 */
export function describeRedisConnection(connection: RedisConnection): string {
  const scheme = connection.tls ? "rediss" : "redis";
  const hosts = connection.hosts.map(formatRedisHost).join(",");

  let userinfo = "";
  if (connection.password !== undefined) {
    userinfo = `${encodeURIComponent(connection.username ?? "")}:****@`;
  } else if (connection.username !== undefined) {
    userinfo = "****@";
  }

  return `${scheme}://${userinfo}${hosts}/${connection.db}`;
}

// Host names as used by DNS, /etc/hosts and container networks (which allow underscores).
const HOST_NAME = /^[A-Za-z0-9._-]+$/;

/** Parses `host`, `host:port`, `[ipv6]` or `[ipv6]:port`. The message of a throw quotes the text. */
export function parseRedisHost(text: string): RedisHost {
  if (text === "") {
    throw new RedisConnectionSyntaxError("a host is empty");
  }

  if (text.startsWith("[")) {
    return parseBracketedHost(text);
  }

  const parts = text.split(":");
  if (parts.length > 2) {
    throw new RedisConnectionSyntaxError(`IPv6 address "${text}" must be in brackets, as in [::1]:6379`);
  }
  const [host = "", port] = parts;
  if (host === "") {
    throw new RedisConnectionSyntaxError(`host "${text}" has an empty host name`);
  }
  if (!HOST_NAME.test(host)) {
    throw new RedisConnectionSyntaxError(`host name "${host}" contains characters that are not allowed in a host name`);
  }

  return { host, port: port === undefined ? DEFAULT_REDIS_PORT : parsePort(port) };
}

function parseBracketedHost(text: string): RedisHost {
  const close = text.indexOf("]");
  if (close === -1) {
    throw new RedisConnectionSyntaxError(`IPv6 address "${text}" has no closing "]"`);
  }

  const host = text.slice(1, close);
  if (!isIPv6(host)) {
    throw new RedisConnectionSyntaxError(`"[${host}]" is not a valid IPv6 address`);
  }

  const rest = text.slice(close + 1);
  if (rest === "") {
    return { host, port: DEFAULT_REDIS_PORT };
  }
  if (!rest.startsWith(":")) {
    throw new RedisConnectionSyntaxError(`unexpected "${rest}" after IPv6 address "[${host}]"; write [${host}]:PORT`);
  }
  return { host, port: parsePort(rest.slice(1)) };
}

function parsePort(text: string): number {
  const port = parseWholeNumber(text);
  if (port === undefined || port < 1 || port > 65535) {
    throw new RedisConnectionSyntaxError(`port "${text}" must be a number from 1 to 65535`);
  }
  return port;
}

/** Returns the value of a string of decimal digits, or undefined for anything else. */
export function parseWholeNumber(text: string): number | undefined {
  if (!/^\d+$/.test(text)) {
    return undefined;
  }
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}
