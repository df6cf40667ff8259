// PM2 configuration of Backplane: `npm run build`, then `pm2 start ecosystem.config.js`.
//
// Why the web tier runs in PM2's fork mode with one instance:
// Backplane's primary (dist/src/main.js) is itself a Node cluster primary. It accepts every connection and hands
// it to a web worker with @socket.io/sticky, so that all HTTP long-polling requests of one socket.io session reach
// the worker that created the session. PM2's own cluster mode would make each PM2 instance a cluster worker behind
// PM2's round-robin balancer, which ignores socket.io sessions: polling requests would land on workers
// that do not know their session id and fail with HTTP 400 "Session ID unknown". So PM2 starts one primary
// (exec_mode "fork", instances 1) and the primary owns the cluster: WEB_CONCURRENCY sets its web workers.
//
// The alternative is @socket.io/pm2, a drop-in replacement of the pm2 package whose God process balances
// cluster-mode instances by socket.io session and relays the cluster adapter's packets. Under it, PM2's cluster
// mode would run dist/src/main.js as web workers directly, without Backplane's primary. It must replace pm2 on
// every host, it lags behind pm2's releases (6.0.14 against 7.0.4 in the npm registry when this file was written),
// and it is not tested here, so this file keeps the stock pm2 package.
//
// Job processes run as a second PM2 app (dist/workers/main.js, the same as `npm run jobs`) with their own
// instance count, so PM2 restarts and scales them apart from the web tier. The web app then sets
// JOB_PROCESSES=0 so that the primary forks none of its own. Job processes need Redis: without
// ConnectionStrings__Redis or REDIS_URL this file defines the web app only, which runs backtests in
// worker threads (single-host mode).
//
// The file is read by the pm2 command, so the variables below come from the shell that runs
// `pm2 start`. PM2 keeps an app's environment across restarts: after changing a variable, run
// `pm2 reload ecosystem.config.js --update-env`. Every other setting of the README's table
// (LOG_LEVEL, REDIS_PREFIX, CLIENT_TRANSPORTS and so on) also passes through from that shell.
//
//   PORT                 port of the web tier, default 3000
//   WEB_CONCURRENCY      web workers of the primary, default: every core
//   JOB_INSTANCES        job processes that PM2 runs, default 1 (each runs JOB_CONCURRENCY backtests at once)
//   SHUTDOWN_TIMEOUT_MS  Backplane's ordered shutdown limit, default 10000; PM2 waits 5 s longer
//
// `pm2 reload` restarts fork-mode apps: the primary stops in order (closing sockets sends clients to reconnect)
// and a new primary starts, so clients see a reconnect of a second or two. A running backtest survives it with
// Redis (BullMQ hands a stopped job process's backtest to another one) and is lost without Redis.

"use strict";

const path = require("node:path");

const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;

// PM2 sends SIGKILL to every process of the app that is still alive after kill_timeout. Backplane forces its
// own exit after SHUTDOWN_TIMEOUT_MS, so the margin lets that ordered exit finish first.
const KILL_MARGIN_MS = 5_000;

/** Reads a whole number from the environment variable `name`, or returns `fallback` when it is unset or empty. */
function wholeNumber(name, fallback) {
  const text = (process.env[name] ?? "").trim();
  if (text === "") return fallback;
  if (!/^\d+$/.test(text)) {
    throw new Error(`${name}="${text}" is invalid: expected a whole number, or unset it for the default (${fallback})`);
  }
  return Number(text);
}

const shutdownTimeoutMs = wholeNumber("SHUTDOWN_TIMEOUT_MS", DEFAULT_SHUTDOWN_TIMEOUT_MS);
const redisConfigured = ["ConnectionStrings__Redis", "REDIS_URL"].some(
  (name) => (process.env[name] ?? "").trim() !== "",
);

/** Settings shared by both apps. */
const common = {
  cwd: __dirname,
  exec_mode: "fork",
  // PM2 7 stops an app by sending SIGINT (PM2_KILL_SIGNAL of the daemon, not an app option) to every process of
  // its tree at once. Backplane stops in order on SIGINT as on SIGTERM, and a child that gets the signal from PM2
  // and again from its primary shuts down once, as on Ctrl-C in a terminal.
  kill_timeout: shutdownTimeoutMs + KILL_MARGIN_MS,
  autorestart: true,
  // While an app keeps crashing, PM2 7 waits 200 ms before the first restart and 1.5 times longer before each
  // next one, up to 15 s. 30 s without a crash resets the delay.
  exp_backoff_restart_delay: 200,
  // pino writes one JSON object per line, which a PM2 date prefix would break.
  time: false,
};

const web = {
  ...common,
  name: "backplane-web",
  script: path.join("dist", "src", "main.js"),
  instances: 1,
  env: {
    NODE_ENV: "production",
    PORT: String(wholeNumber("PORT", 3000)),
    SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs),
    // With Redis, the job processes are PM2's second app.
    JOB_PROCESSES: "0",
  },
};

const jobs = {
  ...common,
  name: "backplane-jobs",
  script: path.join("dist", "workers", "main.js"),
  instances: wholeNumber("JOB_INSTANCES", 1),
  // One log file for every job instance. Each line carries its pid and instance id.
  merge_logs: true,
  env: {
    NODE_ENV: "production",
    SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs),
  },
};

module.exports = {
  apps: redisConfigured ? [web, jobs] : [web],
};
