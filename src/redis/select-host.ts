import { Redis } from "ioredis";

import type { RedisConnection, RedisHost } from "../config/redis-connection-string";
import { tlsOptions } from "./clients";

export interface SelectRedisHostOptions {
  /** Time allowed to each host for connecting, AUTH, PING and ROLE together. */
  timeoutMs: number;
}

/**
 * Probes the hosts of `connection` in the order listed and returns the first that replies to PING
 * (after AUTH when a password is set) and is not a replica, or undefined when none does. Each
 * host gets `timeoutMs`, so the whole call takes at most about `hosts.length * timeoutMs`.
 *
 * Replicas are skipped because BullMQ writes to Redis and a replica rejects writes with READONLY.
 * A host that rejects ROLE (an ACL that does not allow it) counts as a primary.
 */
export async function selectRedisHost(
  connection: RedisConnection,
  options: SelectRedisHostOptions,
): Promise<RedisHost | undefined> {
  for (const host of connection.hosts) {
    if ((await probeHost(connection, host, options.timeoutMs)) === "primary") {
      return host;
    }
  }
  return undefined;
}

type ProbeResult = "primary" | "replica" | "unreachable";

async function probeHost(connection: RedisConnection, host: RedisHost, timeoutMs: number): Promise<ProbeResult> {
  // One attempt only: no reconnection, no queued or retried commands.
  const client = new Redis({
    host: host.host,
    port: host.port,
    username: connection.username,
    password: connection.password,
    tls: tlsOptions(connection),
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    lazyConnect: true,
    enableReadyCheck: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // Failures come back as "unreachable". The listener only stops ioredis from printing
  // "Unhandled error event" for each of them.
  client.on("error", () => {});

  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<ProbeResult>((resolve) => {
    timer = setTimeout(() => resolve("unreachable"), timeoutMs);
  });

  try {
    return await Promise.race([askRole(client), deadline]);
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}

async function askRole(client: Redis): Promise<ProbeResult> {
  try {
    await client.connect();
    await client.ping();
  } catch {
    return "unreachable";
  }

  try {
    const role: unknown = await client.call("ROLE");
    return Array.isArray(role) && role[0] === "slave" ? "replica" : "primary";
  } catch {
    return "primary";
  }
}
