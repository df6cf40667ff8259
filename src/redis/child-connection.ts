import { type RedisConnection, type RedisHost, formatRedisHost } from "../config/redis-connection-string";

/**
 * Environment variable through which the primary passes the Redis host it selected at startup
 * to its children, as `host:port` (an IPv6 host in brackets, as formatRedisHost() writes it).
 */
export const REDIS_HOST_VARIABLE = "BACKPLANE_REDIS_HOST";

/** Returns the environment entry that passes `host` to a child. */
export function redisHostEnvironment(host: RedisHost): Record<string, string> {
  return { [REDIS_HOST_VARIABLE]: formatRedisHost(host) };
}

/**
 * Returns the connection with the host the primary selected moved to the front, so that the
 * client factories, which use the first host, connect to it. The connection is returned
 * unchanged when the variable is unset or names no configured host: a child never connects to a
 * host outside the connection string.
 */
export function redisConnectionForChild(
  connection: RedisConnection,
  env: NodeJS.ProcessEnv = process.env,
): RedisConnection {
  const selected = env[REDIS_HOST_VARIABLE];
  if (selected === undefined || selected === "") {
    return connection;
  }

  // Accept the unbracketed `::1:6379` too, which a primary may write for an IPv6 host.
  const index = connection.hosts.findIndex(
    (host) => formatRedisHost(host) === selected || `${host.host}:${host.port}` === selected,
  );
  const host = connection.hosts[index];
  if (host === undefined) {
    return connection;
  }
  return { ...connection, hosts: [host, ...connection.hosts.filter((_, i) => i !== index)] };
}
