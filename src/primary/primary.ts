import { fork } from "node:child_process";
import { accessSync, constants, mkdirSync } from "node:fs";
import cluster from "node:cluster";
import http from "node:http";
import path from "node:path";

import { setupPrimary as setupClusterAdapterPrimary } from "@socket.io/cluster-adapter";
import { setupMaster as setupStickyBalancer } from "@socket.io/sticky";

import type { Settings } from "../config/settings";
import { createLogger } from "../logging/logger";
import { createShutdown, onTerminationSignals } from "../lifecycle/shutdown";
import { selectRedisHost } from "../redis/select-host";
import { stopReadingAfterHandoff } from "./stop-reading-after-handoff";
import { Supervisor, type SupervisedChild } from "./supervisor";
import { closeUndeliveredConnections } from "./undelivered-connections";

/** Compiled entry of a job process; forked with child_process, never with cluster. */
const JOB_PROCESS_ENTRY = path.resolve(__dirname, "../../workers/main.js");

/** Maximum respawn delay of a crash-looping child. */
const MAX_RESPAWN_BACKOFF_MS = 30_000;

/** A child that lived this long is healthy again and resets its backoff. */
const HEALTHY_AFTER_MS = 10_000;

/**
 * Runs the cluster primary: it balances connections stickily over the web workers, relays the
 * cluster adapter's messages and supervises web workers and job processes. It loads no
 * application code.
 */
export async function runPrimary(settings: Settings): Promise<void> {
  const logger = createLogger({
    level: settings.logLevel,
    role: "primary",
    instanceId: settings.instanceId,
    secrets: secretsOf(settings),
  });
  checkDataDirectory(settings.dataDir);
  const childEnv = await childEnvironment(settings, logger);

  // Job processes are plain child processes: the sticky balancer picks from every entry of
  // cluster.workers, so a job process there would receive HTTP connections.
  cluster.setupPrimary({ serialization: "advanced" });
  setupClusterAdapterPrimary();

  const web = new Supervisor({
    role: "web",
    count: settings.webConcurrency,
    spawn: () => clusterChild(cluster.fork(childEnv)),
    backoffMs: settings.respawnBackoffMs,
    maxBackoffMs: MAX_RESPAWN_BACKOFF_MS,
    healthyAfterMs: HEALTHY_AFTER_MS,
    logger,
  });
  const jobCount = settings.redis === undefined ? 0 : settings.jobProcesses;
  const jobs = new Supervisor({
    role: "jobs",
    count: jobCount,
    spawn: () => processChild(fork(JOB_PROCESS_ENTRY, [], { env: { ...process.env, ...childEnv } })),
    backoffMs: settings.respawnBackoffMs,
    maxBackoffMs: MAX_RESPAWN_BACKOFF_MS,
    healthyAfterMs: HEALTHY_AFTER_MS,
    logger,
  });

  const server = http.createServer();
  setupStickyBalancer(server, { loadBalancingMethod: "least-connection" });
  // Connections passed to a web worker in the moment it died would otherwise stay open, unanswered.
  cluster.on("exit", (worker) => {
    const closed = closeUndeliveredConnections(worker.process);
    if (closed > 0)
      logger.warn({ childPid: worker.process.pid, closed }, "closed connections that a dead web worker never took");
  });
  stopReadingAfterHandoff(server);

  const shutdown = createShutdown(
    [
      { name: "stop accepting connections", run: () => void server.close() },
      { name: "stop web workers", run: () => web.stop("SIGTERM") },
      { name: "stop job processes", run: () => jobs.stop("SIGTERM") },
    ],
    {
      timeoutMs: settings.shutdownTimeoutMs,
      logger,
      // The primary exits 0 even when the timeout forced it to kill children: the stop was
      // requested, and the error log line records what had to be killed.
      exit: () => {
        web.killAll();
        jobs.killAll();
        process.exit(0);
      },
    },
  );
  onTerminationSignals(shutdown, logger);
  // However the primary leaves (a second signal, a crash), it takes its children with it instead
  // of leaving orphans. After an ordered shutdown no child is left to kill.
  process.on("exit", () => {
    web.killAll();
    jobs.killAll();
  });

  web.start();
  jobs.start();
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) => {
      const address = `${settings.host ?? "all interfaces"} port ${settings.port}`;
      reject(new Error(`cannot listen on ${address} (${err.message}); check PORT and HOST`));
    });
    server.listen(settings.port, settings.host, () => resolve());
  });

  logger.info(
    {
      port: settings.port,
      host: settings.host,
      webWorkers: settings.webConcurrency,
      jobProcesses: jobCount,
    },
    "Backplane primary listening",
  );
}

/** Environment shared by every child, so they agree on the instance id and the Redis host. */
async function childEnvironment(
  settings: Settings,
  logger: ReturnType<typeof createLogger>,
): Promise<Record<string, string>> {
  const env: Record<string, string> = { INSTANCE_ID: settings.instanceId };

  if (settings.redis === undefined) {
    logger.info(
      { durable: false },
      "Redis not configured: single-host mode. Backtests run in worker threads of the web workers and are not durable across restarts; set ConnectionStrings__Redis or REDIS_URL for BullMQ job processes and several instances.",
    );
    return env;
  }

  const { connection, masked, variable } = settings.redis;
  logger.info({ redis: masked }, "Redis backplane enabled");
  for (const warning of connection.warnings)
    logger.warn({ variable, warning }, "Redis connection string option ignored");
  const selected = await selectRedisHost(connection, { timeoutMs: connection.connectTimeoutMs ?? 2_000 });
  if (selected === undefined) {
    logger.warn(
      { redis: masked },
      "Redis did not answer at startup (unreachable, or it rejected the credentials); starting anyway. /readyz and job requests answer 503 until it answers.",
    );
  } else {
    env["BACKPLANE_REDIS_HOST"] = `${selected.host}:${selected.port}`;
  }
  return env;
}

function secretsOf(settings: Settings): string[] {
  const password = settings.redis?.connection.password;
  return password === undefined || password === "" ? [] : [password];
}

function clusterChild(worker: ReturnType<typeof cluster.fork>): SupervisedChild {
  return {
    pid: worker.process.pid,
    onExit: (listener) => worker.on("exit", listener),
    // worker.kill() would first disconnect IPC, which the sticky balancer still needs while
    // the worker drains; signal the process instead.
    kill: (signal) => {
      if (worker.process.exitCode === null && worker.process.signalCode === null) worker.process.kill(signal);
    },
  };
}

function processChild(child: ReturnType<typeof fork>): SupervisedChild {
  return {
    pid: child.pid,
    onExit: (listener) => child.on("exit", listener),
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

/**
 * Fails startup when DATA_DIR cannot hold uploads, instead of letting the first upload fail in a
 * web worker. Creates the folder when it is missing.
 */
function checkDataDirectory(dataDir: string): void {
  try {
    mkdirSync(dataDir, { recursive: true });
    accessSync(dataDir, constants.W_OK);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(
      `DATA_DIR="${dataDir}" is not a writable folder (${reason}); set DATA_DIR to a folder that every Backplane process can write`,
    );
  }
}
