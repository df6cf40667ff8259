import os from "node:os";

import pino from "pino";

import { MASK, createSecretScrubber } from "./scrub-secrets";

export type Logger = pino.Logger;

/** pino's levels, from the most to the least severe, and "silent". */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

export type LogLevel = (typeof LOG_LEVELS)[number];

/** The kind of process that writes a log line. */
export type ProcessRole = "primary" | "web" | "jobs" | "cli";

export interface CreateLoggerOptions {
  level: LogLevel;
  role: ProcessRole;
  /**
   * Strings that must never be written, such as the Redis password. Each one is replaced with
   * "****" wherever it appears in a line: message, `err.message`, `err.stack`, bindings and
   * nested fields. Default none.
   */
  secrets?: readonly string[];
  /** Destination of the lines. Default stdout. Tests pass a stream to read the lines back. */
  destination?: pino.DestinationStream;
  /** Further bindings written on every line, such as `instanceId` or `workerId`. */
  [binding: string]: unknown;
}

/**
 * Paths removed by pino before a line is serialized. `err.command.args` contains the arguments of
 * a failed ioredis command, which are the password for AUTH and job data for the rest.
 */
export const REDACTED_PATHS = [
  "password",
  "*.password",
  "*.*.password",
  "req.headers.authorization",
  "req.headers.cookie",
  "headers.authorization",
  "headers.cookie",
  "err.command.args",
  "*.err.command.args",
];

/**
 * Creates the process's pino logger, writing one JSON object a line to stdout. Every line carries
 * `role`, `pid`, `hostname` and the extra bindings passed in. Fields at REDACTED_PATHS are
 * replaced with "****", and so is every occurrence of a string in `secrets`.
 */
export function createLogger(options: CreateLoggerOptions): Logger {
  const { level, role, secrets = [], destination, ...bindings } = options;

  // Scrubbing runs on the serialized line, so it also reaches error stacks and fields added by
  // serializers. Without secrets there is no hook and no cost.
  const scrub = secrets.some((secret) => secret !== "") ? createSecretScrubber(secrets, { json: true }) : undefined;

  const loggerOptions: pino.LoggerOptions = {
    level,
    base: { pid: process.pid, hostname: os.hostname(), role, ...bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: MASK },
    hooks: scrub === undefined ? {} : { streamWrite: scrub },
  };

  return destination === undefined ? pino(loggerOptions) : pino(loggerOptions, destination);
}
