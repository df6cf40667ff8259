import { randomUUID } from "node:crypto";

import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { Logger } from "pino";

import { unavailable } from "../web/errors";
import type { BacktestJobs, CancelOutcome, Readiness } from "./backtest-jobs";
import { BACKTEST_QUEUE, BACKTEST_QUEUE_STREAMS } from "./backtest-queue";
import { type BacktestRequest, backtestRequestSchema } from "./backtest-request";
import { isTerminal, RedisSnapshotStore } from "./redis-snapshot-store";

/** Redis errors for a wrong or missing user or password. The match names the case in /readyz. */
const AUTH_ERROR = /^(WRONGPASS|NOAUTH|ERR invalid password)/;

export interface RedisBacktestJobsOptions {
  /** A fail-fast producer connection (no offline queue), never shared with the adapter. */
  connection: Redis;
  prefix: string;
  resultTtlS: number;
  /** Maximum wait for Redis on one request before responding with 503, in milliseconds. */
  commandTimeoutMs: number;
  /** Masked address of the Redis server, for messages. */
  maskedAddress: string;
  logger: Logger;
}

/**
 * The BullMQ producer side: web workers add jobs and read snapshots here, job processes run
 * them. Snapshots live in Redis so every worker and instance reads the same state.
 */
export class RedisBacktestJobs implements BacktestJobs {
  private queue: Queue<BacktestRequest> | undefined;
  private readonly store: RedisSnapshotStore;
  /** Message of the connection's latest error since it was last ready. */
  private lastError: string | undefined;

  constructor(private readonly options: RedisBacktestJobsOptions) {
    // BullMQ's Queue sends INFO as soon as it is built; on a connection without an offline queue
    // that fails for good unless the connection is ready, so the queue waits for the first ready.
    if (options.connection.status === "ready") this.createQueue();
    else options.connection.once("ready", () => this.createQueue());
    options.connection.on("error", (err: Error) => (this.lastError = err.message));
    options.connection.on("ready", () => (this.lastError = undefined));
    this.store = new RedisSnapshotStore(options.connection, {
      prefix: options.prefix,
      resultTtlS: options.resultTtlS,
    });
  }

  readiness(): Readiness {
    const status = this.options.connection.status;
    if (status === "ready" && this.queue !== undefined) return { ready: true };
    const rejected = this.lastError === undefined ? undefined : AUTH_ERROR.exec(this.lastError)?.[1];
    if (rejected !== undefined) {
      return {
        ready: false,
        reason: `Redis at ${this.options.maskedAddress} rejected the credentials (${rejected}): correct the user or password in ConnectionStrings__Redis or REDIS_URL`,
      };
    }
    return { ready: false, reason: `Redis at ${this.options.maskedAddress} is not reachable (connection ${status})` };
  }

  async submit(request: BacktestRequest): Promise<string> {
    const id = randomUUID();

    // The job alone: until its job process emits, the waiting job is the snapshot
    // (RedisSnapshotStore.read). A completed job is kept as long as a result is readable, since
    // it contains the result as its return value and the request as its data.
    await this.withRedis("submit the backtest", () =>
      this.requireQueue().add("backtest", request, {
        jobId: id,
        removeOnComplete: { age: this.options.resultTtlS },
        removeOnFail: { age: this.options.resultTtlS },
      }),
    );
    return id;
  }

  async snapshot(id: string) {
    return this.withRedis("read the backtest", () => this.store.read(id));
  }

  async request(id: string): Promise<BacktestRequest | undefined> {
    const json = await this.withRedis("read the backtest request", () => this.store.readRequest(id));
    if (json === undefined) return undefined;

    // Redis contents are untrusted: a hash written by another version or by hand may not decode.
    try {
      const parsed = backtestRequestSchema.safeParse(JSON.parse(json));
      if (parsed.success) return parsed.data;
      this.options.logger.error(
        { backtestId: id, issues: parsed.error.issues },
        "stored backtest request is invalid; ignored",
      );
    } catch (err) {
      this.options.logger.error({ err, backtestId: id }, "stored backtest request is not valid JSON; ignored");
    }
    return undefined;
  }

  async cancel(id: string): Promise<CancelOutcome> {
    return this.withRedis("cancel the backtest", async () => {
      const before = await this.store.read(id);
      if (before === undefined) return { status: "not_found" };
      if (isTerminal(before.state)) return { status: "finished", snapshot: before };

      // A waiting job is removed here and cancelled at once. An active one is locked by its job
      // process, which polls the flag between chunks of bars and emits `cancelled` itself.
      await this.store.requestCancel(id);
      const removed = await this.requireQueue().remove(id);
      if (removed === 1) await this.store.emit({ type: "cancelled", id });

      const after = (await this.store.read(id)) ?? before;
      return { status: "accepted", snapshot: after };
    });
  }

  async close(): Promise<void> {
    await this.queue?.close();
  }

  private createQueue(): void {
    const queue = new Queue<BacktestRequest>(BACKTEST_QUEUE, {
      connection: this.options.connection,
      prefix: this.options.prefix,
      streams: BACKTEST_QUEUE_STREAMS,
    });
    queue.on("error", (err) => this.options.logger.warn({ err }, "backtest queue error"));
    this.queue = queue;
    this.options.logger.info({ redis: this.options.maskedAddress }, "backtest queue connected");
  }

  private requireQueue(): Queue<BacktestRequest> {
    if (this.queue === undefined)
      throw unavailable("the backtest queue is not connected to Redis yet. Retry when /readyz returns 200.");
    return this.queue;
  }

  /**
   * Runs one Redis operation, failing fast with 503 when Redis is down: the producer connection
   * has no offline queue, and the timeout covers a connection that hangs without erroring.
   */
  private async withRedis<T>(action: string, operation: () => Promise<T>): Promise<T> {
    const readiness = this.readiness();
    if (!readiness.ready) {
      throw unavailable(
        `cannot ${action}: ${readiness.reason ?? "Redis is not ready"}. Retry when /readyz returns 200.`,
      );
    }

    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          unavailable(
            `cannot ${action}: Redis at ${this.options.maskedAddress} did not answer within ${this.options.commandTimeoutMs} ms. Retry later.`,
          ),
        );
      }, this.options.commandTimeoutMs);
    });
    try {
      return await Promise.race([operation(), timeout]);
    } catch (err) {
      if (err instanceof Error && err.name === "ApiError") throw err;
      this.options.logger.warn({ err, action }, "Redis operation failed");
      throw unavailable(
        `cannot ${action}: Redis at ${this.options.maskedAddress} failed (${describe(err)}). Retry later.`,
      );
    } finally {
      clearTimeout(timer);
    }
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
