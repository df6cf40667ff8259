/**
 * ioredis client factories, one per way a process uses Redis, following BullMQ's production
 * guidance (docs.bullmq.io, "Going to production"): workers and subscribers wait for Redis
 * indefinitely, while producers behind an HTTP request fail fast.
 */
import { Redis, type RedisOptions } from "ioredis";

import { type RedisConnection, type RedisHost, describeRedisConnection } from "../config/redis-connection-string";
import type { Logger } from "../logging/logger";
import { handleAdapterRejections } from "./adapter-rejections";
import { logRedisClientEvents } from "./error-log";

export interface RedisClientOptions {
  connection: RedisConnection;
  /** Name set with CLIENT SETNAME, shown by CLIENT LIST; no spaces. */
  connectionName: string;
  /** Logger for the client's errors, readiness and end. */
  logger: Logger;
  /** Address for log lines. Default: describeRedisConnection() of the host used. */
  maskedAddress?: string;
  /** Host to connect to. Default: the connection's first host. */
  host?: RedisHost;
  /** Connect on the first command instead of at once. Default false. */
  lazyConnect?: boolean;
  /** Minimum time between two log lines of the same repeated error. Default 30000. */
  errorLogIntervalMs?: number;
}

export interface ProducerConnectionOptions extends RedisClientOptions {
  /** Time a command may take before it is rejected with "Command timed out". Default 2000. */
  commandTimeoutMs?: number;
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 2000;

export const DEFAULT_ERROR_LOG_INTERVAL_MS = 30_000;

/** Maximum delay between two reconnection attempts. */
export const MAX_RECONNECT_DELAY_MS = 20_000;

/**
 * Returns the delay before reconnection attempt `attempt` (1, 2, ...): 1 s, doubling up to 20 s,
 * and never gives up. The 20 s cap is the one BullMQ (5.81) uses for the clients it creates.
 * ioredis resets the attempt count once a connection is ready.
 */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(1000 * 2 ** Math.max(attempt - 1, 0), MAX_RECONNECT_DELAY_MS);
}

/**
 * Creates a client for BullMQ Workers, QueueEvents and long-lived subscribers: commands wait for
 * the connection however long it is down (`maxRetriesPerRequest: null`, offline queue on), as
 * BullMQ requires for its blocking commands, and reconnection never stops.
 */
export function createWorkerConnection(options: RedisClientOptions): Redis {
  return createClient(options, { maxRetriesPerRequest: null, enableOfflineQueue: true });
}

/**
 * Creates a fail-fast client for BullMQ Queue producers and other commands issued while an HTTP
 * request waits. While the connection is down a command is rejected at once instead of queued,
 * and a command on a live connection is rejected after `commandTimeoutMs`. The client still
 * reconnects forever in the background.
 *
 * Commands sent before the first `ready` event are rejected too. BullMQ's Queue (5.81) waits for
 * that first `ready` without a limit, so `queue.add()` on a Redis that was never reached stays
 * pending: check `client.status === "ready"` first or bound the call with a timeout.
 * Never use this client for blocking commands (QueueEvents, Worker), which the timeout would cut
 * short.
 */
export function createProducerConnection(options: ProducerConnectionOptions): Redis {
  return createClient(options, {
    // Commands in flight when the connection drops fail after one reconnection attempt.
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    commandTimeout: options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
  });
}

/**
 * Creates the publisher and subscriber of the socket.io Redis adapter, both retrying forever.
 * The adapter does not handle a rejected PUBLISH, so the publisher queues commands while Redis
 * is down, and they are sent late once it is back.
 *
 * NOTE: the publisher's offline queue has no limit, so memory grows with every broadcast made
 * while Redis is unreachable.
 */
export function createPubSubPair(options: RedisClientOptions): { publisher: Redis; subscriber: Redis } {
  const publisher = createWorkerConnection({ ...options, connectionName: `${options.connectionName}:pub` });
  const subscriber = createWorkerConnection({ ...options, connectionName: `${options.connectionName}:sub` });
  handleAdapterRejections(publisher, subscriber, options.logger, {
    secrets: options.connection.password === undefined ? [] : [options.connection.password],
    intervalMs: options.errorLogIntervalMs ?? DEFAULT_ERROR_LOG_INTERVAL_MS,
  });
  return { publisher, subscriber };
}

function createClient(options: RedisClientOptions, roleOptions: RedisOptions): Redis {
  const { connection, connectionName } = options;
  const host = options.host ?? connection.hosts[0];
  if (host === undefined) {
    throw new Error(`Redis client "${connectionName}" has no host: the connection lists none`);
  }

  const client = new Redis({
    host: host.host,
    port: host.port,
    username: connection.username,
    password: connection.password,
    db: connection.db,
    tls: tlsOptions(connection),
    connectTimeout: connection.connectTimeoutMs,
    connectionName,
    lazyConnect: options.lazyConnect ?? false,
    retryStrategy: reconnectDelayMs,
    // After a failover the old primary becomes a read-only replica: reconnect, so DNS or the
    // provider's endpoint leads to the new primary, and resend the command.
    reconnectOnError: (err) => (err.message.startsWith("READONLY") ? 2 : false),
    ...roleOptions,
  });

  const address = options.maskedAddress ?? describeRedisConnection({ ...connection, hosts: [host] });
  logRedisClientEvents(client, options.logger.child({ connectionName, redis: address }), {
    secrets: connection.password === undefined ? [] : [connection.password],
    intervalMs: options.errorLogIntervalMs ?? DEFAULT_ERROR_LOG_INTERVAL_MS,
  });
  return client;
}

/** Returns ioredis' `tls` option for the connection: undefined without TLS. */
export function tlsOptions(connection: RedisConnection): RedisOptions["tls"] {
  if (!connection.tls) {
    return undefined;
  }
  // Without servername Node checks the certificate against the host name.
  return connection.tlsServername === undefined ? {} : { servername: connection.tlsServername };
}
