/**
 * Settings read from the environment once, synchronously, at startup. A bad value stops the
 * process with a ConfigError before anything starts.
 */
import { statSync } from "node:fs";
import { isIP } from "node:net";
import os from "node:os";
import path from "node:path";

import { z } from "zod";

import { TRANSPORT_NAMES, type TransportName } from "../client/client-config";
import { DEFAULT_DATA_DIR } from "../data/uploads/upload-store";
import { LOG_LEVELS, type LogLevel } from "../logging/logger";
import { ConfigError, type ConfigIssue } from "./config-error";
import { type RedisConnection, maskRedisConnectionString, parseRedisConnectionString } from "./redis-connection-string";

/** The Redis variables, in the order they are read: the first one that is set and not empty wins. */
export const REDIS_VARIABLES = ["ConnectionStrings__Redis", "REDIS_URL"] as const;

export type RedisVariable = (typeof REDIS_VARIABLES)[number];

/**
 * The socket.io transports that `GET /api/client-config` names: a list in order of preference, or "auto", which
 * the route resolves to websocket only with Redis and to polling then websocket without it.
 */
export type ClientTransports = "auto" | TransportName[];

export interface RedisSettings {
  /** The variable the connection string was read from. */
  variable: RedisVariable;
  connection: RedisConnection;
  /** The connection string as written, with its password masked, for logs. */
  masked: string;
}

export interface Settings {
  /** PORT: TCP port of the HTTP and socket.io server; 0 lets the OS pick one. Default 3000. */
  port: number;
  /**
   * HOST: address the server listens on. Default unset, which makes Node listen on `::` (every
   * IPv6 and IPv4 address) when IPv6 is available and on `0.0.0.0` otherwise.
   */
  host: string | undefined;
  /** WEB_CONCURRENCY: number of web worker processes. Default os.availableParallelism(). */
  webConcurrency: number;
  /** JOB_PROCESSES: number of job processes the primary starts; 0 starts none. Default 1. */
  jobProcesses: number;
  /**
   * JOB_CONCURRENCY: jobs one job process runs at a time. Default 1, because backtests are
   * CPU-bound and jobs in one process share one core: add JOB_PROCESSES to use more cores.
   */
  jobConcurrency: number;
  /** LOG_LEVEL: minimum pino level written (fatal, error, warn, info, debug, trace, silent). Default info. */
  logLevel: LogLevel;
  /** RESULT_TTL_S: seconds a finished backtest's state and result stay in Redis. Default 604800 (7 days). */
  resultTtlS: number;
  /** RESPAWN_BACKOFF_MS: first delay before a crashed child is restarted; it doubles on each crash up to a cap. Default 1000. */
  respawnBackoffMs: number;
  /** SHUTDOWN_TIMEOUT_MS: time an ordered shutdown may take before the process is forced to exit. Default 10000. */
  shutdownTimeoutMs: number;
  /** LOCK_DURATION_MS: BullMQ lock duration of a running job. Default 30000, BullMQ's default. */
  lockDurationMs: number;
  /** STALLED_INTERVAL_MS: how often BullMQ looks for stalled jobs. Default 30000, BullMQ's default. */
  stalledIntervalMs: number;
  /**
   * INSTANCE_ID: id of this server instance in logs and Redis. Default `<hostname>-<pid>` of the
   * process. The primary passes its value to its children through the environment, so every
   * process of one instance shares it.
   */
  instanceId: string;
  /**
   * REDIS_PREFIX: prefix of every Redis key and queue name of ours, so that tests and deployments
   * sharing a Redis stay apart. Letters, digits, ".", "_" and "-" only, because BullMQ rejects ":"
   * in queue names. Default "backplane".
   */
  redisPrefix: string;
  /**
   * DATA_DIR: folder of uploaded datasets (in its `uploads/` subfolder), resolved against the working
   * directory. Every web worker, job process and instance must see the same folder: a persistent
   * volume on one host, a shared filesystem across hosts. Default `.data`.
   */
  dataDir: string;
  /**
   * STRATEGIES_DIR: folder of strategy plug-ins, compiled CommonJS `.js` files that each export a
   * strategy, loaded by every web worker and job process at startup. Resolved against the working
   * directory and checked to be a folder. Default unset: the built-in strategies only.
   */
  strategiesDir: string | undefined;
  /** MAX_UPLOAD_BYTES: largest dataset upload, counted as sent and again after gunzip. Default 536870912 (512 MiB). */
  maxUploadBytes: number;
  /**
   * CLIENT_TRANSPORTS: the socket.io transports that `GET /api/client-config` returns for the web UI and the CLI.
   * Default "auto": websocket only when Redis is configured, because Redis means several instances may share the
   * traffic, and a load balancer without sticky sessions sends a polling client's requests to instances that do
   * not know its session. Without Redis it is polling then websocket, since one primary balances every connection
   * stickily.
   */
  clientTransports: ClientTransports;
  /**
   * ConnectionStrings__Redis, then REDIS_URL: the Redis connection, in the URL or StackExchange.Redis
   * form. Undefined when both are unset or empty.
   */
  redis: RedisSettings | undefined;
}

/** One environment variable: how it is parsed, its default and its documentation. */
interface SettingSpec<T> {
  variable: string;
  schema: z.ZodType<T, string>;
  /** Description of a valid value, completing "expected ...". */
  expected: string;
  defaultValue: () => T;
  /** The default as the README states it. */
  defaultText: string;
  meaning: string;
}

/** A row of the settings table, for documentation. */
export interface SettingReference {
  variable: string;
  default: string;
  meaning: string;
}

function isDirectory(folder: string): boolean {
  try {
    return statSync(folder).isDirectory();
  } catch {
    return false;
  }
}

function wholeNumber(min: number, max: number): z.ZodType<number, string> {
  return z.string().regex(/^\d+$/).transform(Number).pipe(z.number().int().min(min).max(max));
}

// Identifiers that end up in Redis keys and log lines.
const IDENTIFIER = /^[A-Za-z0-9._-]+$/;

const HOST_NAME = /^[A-Za-z0-9._-]+$/;

/** "auto", or transport names separated by commas, each known and given once, in order of preference. */
const CLIENT_TRANSPORTS_SCHEMA: z.ZodType<ClientTransports, string> = z
  .string()
  .transform((value) => value.toLowerCase())
  .pipe(
    z.union([
      z.literal("auto"),
      z
        .string()
        .transform((value) => value.split(",").map((name) => name.trim()))
        .pipe(
          z
            .array(z.enum(TRANSPORT_NAMES))
            .min(1)
            .refine((names) => new Set(names).size === names.length),
        ),
    ]),
  );

const SPECS: { [K in Exclude<keyof Settings, "redis">]: SettingSpec<Settings[K]> } = {
  port: {
    variable: "PORT",
    schema: wholeNumber(0, 65535),
    expected: "a whole number from 0 to 65535",
    defaultValue: () => 3000,
    defaultText: "3000",
    meaning: "TCP port of the HTTP and socket.io server; 0 lets the OS pick one",
  },
  host: {
    variable: "HOST",
    schema: z.string().refine((value) => isIP(value) !== 0 || HOST_NAME.test(value)),
    expected: "an IP address without brackets, such as 127.0.0.1 or ::, or a host name",
    defaultValue: () => undefined,
    defaultText: "unset: `::` when IPv6 is available, else 0.0.0.0",
    meaning: "address the server listens on",
  },
  webConcurrency: {
    variable: "WEB_CONCURRENCY",
    schema: wholeNumber(1, 1024),
    expected: "a whole number from 1 to 1024",
    defaultValue: () => os.availableParallelism(),
    defaultText: "os.availableParallelism()",
    meaning: "number of web worker processes",
  },
  jobProcesses: {
    variable: "JOB_PROCESSES",
    schema: wholeNumber(0, 1024),
    expected: "a whole number from 0 to 1024",
    defaultValue: () => 1,
    defaultText: "1",
    meaning: "number of job processes the primary starts; 0 starts none",
  },
  jobConcurrency: {
    variable: "JOB_CONCURRENCY",
    schema: wholeNumber(1, 1024),
    expected: "a whole number from 1 to 1024",
    defaultValue: () => 1,
    defaultText: "1",
    meaning: "jobs one job process runs at a time",
  },
  logLevel: {
    variable: "LOG_LEVEL",
    schema: z
      .string()
      .transform((value) => value.toLowerCase())
      .pipe(z.enum(LOG_LEVELS)),
    expected: `one of ${LOG_LEVELS.join(", ")}`,
    defaultValue: () => "info",
    defaultText: "info",
    meaning: "minimum pino level written",
  },
  resultTtlS: {
    variable: "RESULT_TTL_S",
    schema: wholeNumber(1, Number.MAX_SAFE_INTEGER),
    expected: "a whole number of seconds greater than 0",
    defaultValue: () => 604_800,
    defaultText: "604800 (7 days)",
    meaning: "seconds a finished backtest's state and result stay in Redis",
  },
  respawnBackoffMs: {
    variable: "RESPAWN_BACKOFF_MS",
    schema: wholeNumber(1, Number.MAX_SAFE_INTEGER),
    expected: "a whole number of milliseconds greater than 0",
    defaultValue: () => 1000,
    defaultText: "1000",
    meaning: "first delay before a crashed child is restarted; it doubles on each crash up to a cap",
  },
  shutdownTimeoutMs: {
    variable: "SHUTDOWN_TIMEOUT_MS",
    schema: wholeNumber(1, Number.MAX_SAFE_INTEGER),
    expected: "a whole number of milliseconds greater than 0",
    defaultValue: () => 10_000,
    defaultText: "10000",
    meaning: "time an ordered shutdown may take before the process is forced to exit",
  },
  lockDurationMs: {
    variable: "LOCK_DURATION_MS",
    schema: wholeNumber(1, Number.MAX_SAFE_INTEGER),
    expected: "a whole number of milliseconds greater than 0",
    defaultValue: () => 30_000,
    defaultText: "30000",
    meaning: "BullMQ lock duration of a running job",
  },
  stalledIntervalMs: {
    variable: "STALLED_INTERVAL_MS",
    schema: wholeNumber(1, Number.MAX_SAFE_INTEGER),
    expected: "a whole number of milliseconds greater than 0",
    defaultValue: () => 30_000,
    defaultText: "30000",
    meaning: "how often BullMQ looks for stalled jobs",
  },
  instanceId: {
    variable: "INSTANCE_ID",
    schema: z.string().max(128).regex(IDENTIFIER),
    expected: 'at most 128 letters, digits, ".", "_" or "-"',
    defaultValue: () => `${os.hostname()}-${process.pid}`,
    defaultText: "<hostname>-<pid>",
    meaning: "id of this server instance in logs and Redis; the primary passes it to its children",
  },
  redisPrefix: {
    variable: "REDIS_PREFIX",
    schema: z.string().max(100).regex(IDENTIFIER),
    expected: 'at most 100 letters, digits, ".", "_" or "-"',
    defaultValue: () => "backplane",
    defaultText: "backplane",
    meaning: "prefix of every Redis key and queue name of ours",
  },
  dataDir: {
    variable: "DATA_DIR",
    schema: z
      .string()
      .max(4096)
      .transform((value) => path.resolve(value)),
    expected: "a folder path, absolute or relative to the working directory",
    defaultValue: () => path.resolve(DEFAULT_DATA_DIR),
    defaultText: "`.data` in the working directory",
    meaning: "folder of uploaded datasets; share it between every process and instance",
  },
  strategiesDir: {
    variable: "STRATEGIES_DIR",
    schema: z
      .string()
      .max(4096)
      .transform((value) => path.resolve(value))
      .refine(isDirectory),
    expected: "an existing folder of compiled strategy modules (.js), absolute or relative to the working directory",
    defaultValue: () => undefined,
    defaultText: "unset: built-in strategies only",
    meaning: "folder of strategy plug-ins (.js files exporting a strategy) loaded at startup",
  },
  maxUploadBytes: {
    variable: "MAX_UPLOAD_BYTES",
    schema: wholeNumber(1, Number.MAX_SAFE_INTEGER),
    expected: "a whole number of bytes greater than 0",
    defaultValue: () => 512 * 1024 * 1024,
    defaultText: "536870912 (512 MiB)",
    meaning: "largest dataset upload, counted as sent and again after gunzip",
  },
  clientTransports: {
    variable: "CLIENT_TRANSPORTS",
    schema: CLIENT_TRANSPORTS_SCHEMA,
    expected:
      "auto, or websocket and polling in order of preference, comma-separated, such as websocket or polling,websocket",
    defaultValue: () => "auto",
    defaultText: "auto",
    meaning:
      "socket.io transports that `GET /api/client-config` returns to clients; auto is websocket with Redis configured, else polling,websocket",
  },
};

/** Every variable with its default and meaning, in the order of Settings, for the README. */
export const SETTINGS_REFERENCE: readonly SettingReference[] = [
  ...Object.values(SPECS).map(({ variable, defaultText, meaning }) => ({ variable, default: defaultText, meaning })),
  {
    variable: REDIS_VARIABLES.join(", then "),
    default: "unset: no Redis",
    meaning: "Redis connection string, as a redis:// or rediss:// URL or in the StackExchange.Redis form",
  },
];

/**
 * Reads the settings from `env`. An unset variable, or one that is empty or only whitespace,
 * takes its default.
 *
 * @throws ConfigError with one line per invalid variable, naming the variable, its value (the
 *   Redis connection string masked) and what was expected.
 */
export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const issues: ConfigIssue[] = [];
  const read = <T>(spec: SettingSpec<T>): T => readSetting(env, spec, issues);

  const settings: Settings = {
    port: read(SPECS.port),
    host: read(SPECS.host),
    webConcurrency: read(SPECS.webConcurrency),
    jobProcesses: read(SPECS.jobProcesses),
    jobConcurrency: read(SPECS.jobConcurrency),
    logLevel: read(SPECS.logLevel),
    resultTtlS: read(SPECS.resultTtlS),
    respawnBackoffMs: read(SPECS.respawnBackoffMs),
    shutdownTimeoutMs: read(SPECS.shutdownTimeoutMs),
    lockDurationMs: read(SPECS.lockDurationMs),
    stalledIntervalMs: read(SPECS.stalledIntervalMs),
    instanceId: read(SPECS.instanceId),
    redisPrefix: read(SPECS.redisPrefix),
    dataDir: read(SPECS.dataDir),
    strategiesDir: read(SPECS.strategiesDir),
    maxUploadBytes: read(SPECS.maxUploadBytes),
    clientTransports: read(SPECS.clientTransports),
    redis: readRedisSettings(env, issues),
  };

  const [first, ...rest] = issues;
  if (first !== undefined) {
    throw new ConfigError([first, ...rest]);
  }
  return settings;
}

/** Parses one variable; on an invalid value it records an issue and returns the default, so every issue is reported at once. */
function readSetting<T>(env: NodeJS.ProcessEnv, spec: SettingSpec<T>, issues: ConfigIssue[]): T {
  const value = env[spec.variable]?.trim();
  if (value === undefined || value === "") {
    return spec.defaultValue();
  }

  const result = spec.schema.safeParse(value);
  if (result.success) {
    return result.data;
  }

  issues.push({
    variable: spec.variable,
    message: `${spec.variable}="${value}" is invalid: expected ${spec.expected}, or unset it for the default (${spec.defaultText}).`,
  });
  return spec.defaultValue();
}

function readRedisSettings(env: NodeJS.ProcessEnv, issues: ConfigIssue[]): RedisSettings | undefined {
  for (const variable of REDIS_VARIABLES) {
    const value = env[variable];
    if (value === undefined || value.trim() === "") {
      continue;
    }

    try {
      const connection = parseRedisConnectionString(value, variable);
      return { variable, connection, masked: maskRedisConnectionString(value.trim()) };
    } catch (error) {
      if (!(error instanceof ConfigError)) {
        throw error;
      }
      issues.push(...error.issues);
      return undefined;
    }
  }
  return undefined;
}
