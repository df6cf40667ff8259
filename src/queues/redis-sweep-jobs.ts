import { randomUUID } from "node:crypto";

import { FlowProducer } from "bullmq";
import type { Redis } from "ioredis";
import type { Logger } from "pino";

import type { BacktestSnapshot } from "../hubs/backtest-events";
import { unavailable } from "../web/errors";
import type { CancelOutcome } from "./backtest-jobs";
import { isTerminal, RedisSnapshotStore } from "./redis-snapshot-store";
import { RedisSweepStore } from "./redis-sweep-store";
import type { SweepJobs } from "./sweep-jobs";
import { SWEEP_CHUNK_QUEUE, SWEEP_QUEUE, type SweepChunkJobData, type SweepJobData } from "./sweep-queue";
import { type SweepRequest, combinationCount, gridAxes, planChunks } from "./sweep-request";
import { type HeatmapOutcome, type HeatmapQuery, buildHeatmap } from "./sweep-results";

export interface RedisSweepJobsOptions {
  /** The web worker's fail-fast producer connection. */
  connection: Redis;
  prefix: string;
  resultTtlS: number;
  /** Maximum wait for Redis on one request before responding 503, in milliseconds. */
  commandTimeoutMs: number;
  maskedAddress: string;
  logger: Logger;
}

/**
 * The web side of sweeps with Redis: a sweep becomes a BullMQ flow, a parent job in the
 * `sweeps` queue with one child per chunk in `sweep-chunks`, which every job process takes from.
 * Snapshots and events go through the snapshot store as a backtest's do, so the relay delivers
 * them. The chunk results stay in the sweep's hash for the heatmap.
 */
export class RedisSweepJobs implements SweepJobs {
  private flows: FlowProducer | undefined;
  private readonly snapshots: RedisSnapshotStore;
  private readonly store: RedisSweepStore;

  constructor(private readonly options: RedisSweepJobsOptions) {
    // FlowProducer, like Queue, sends a command as soon as it is built, which a fail-fast
    // connection rejects for good unless it is ready.
    if (options.connection.status === "ready") this.createFlowProducer();
    else options.connection.once("ready", () => this.createFlowProducer());
    const storeOptions = { prefix: options.prefix, resultTtlS: options.resultTtlS };
    this.snapshots = new RedisSnapshotStore(options.connection, storeOptions);
    this.store = new RedisSweepStore(options.connection, storeOptions);
  }

  async submit(request: SweepRequest, rows: number): Promise<string> {
    const id = randomUUID();
    const total = combinationCount(gridAxes(request));
    const chunks = planChunks(total, rows);

    await this.withRedis("submit the sweep", async () => {
      await this.snapshots.create(id, total);
      await this.store.create(id, request, total);
      try {
        await this.requireFlows().add({
          name: "sweep",
          queueName: SWEEP_QUEUE,
          data: { sweepId: id } satisfies SweepJobData,
          opts: { jobId: id, removeOnComplete: true, removeOnFail: { age: this.options.resultTtlS } },
          children: chunks.map((chunk) => ({
            name: "sweep-chunk",
            queueName: SWEEP_CHUNK_QUEUE,
            data: { sweepId: id, request, chunk } satisfies SweepChunkJobData,
            opts: {
              jobId: `${id}-${chunk.chunk}`,
              failParentOnFailure: true,
              removeOnComplete: true,
              removeOnFail: { age: this.options.resultTtlS },
            },
          })),
        });
      } catch (err) {
        await Promise.all([this.snapshots.remove(id), this.store.remove(id)]).catch(() => undefined);
        throw err;
      }
    });
    this.options.logger.info({ sweepId: id, combinations: total, chunks: chunks.length }, "sweep queued");
    return id;
  }

  async snapshot(id: string): Promise<BacktestSnapshot | undefined> {
    return this.withRedis("read the sweep", async () =>
      (await this.store.exists(id)) ? this.snapshots.read(id) : undefined,
    );
  }

  async cancel(id: string): Promise<CancelOutcome> {
    return this.withRedis("cancel the sweep", async () => {
      const before = (await this.store.exists(id)) ? await this.snapshots.read(id) : undefined;
      if (before === undefined) return { status: "not_found" };
      if (isTerminal(before.state)) return { status: "finished", snapshot: before };

      // The terminal event goes out at once. Chunks still waiting see it and return without
      // running, a running chunk notices the flag between combinations, and the script drops
      // any event they would emit after it.
      await this.snapshots.requestCancel(id);
      await this.snapshots.emit({ type: "cancelled", id });
      const after = (await this.snapshots.read(id)) ?? before;
      this.options.logger.info({ sweepId: id }, "sweep cancelled");
      return { status: "accepted", snapshot: after };
    });
  }

  async heatmap(id: string, query: HeatmapQuery): Promise<HeatmapOutcome> {
    const stored = await this.withRedis("read the sweep's results", () => this.store.read(id));
    if (stored === undefined) return { status: "not_found" };
    return buildHeatmap(stored.request, gridAxes(stored.request), stored.results, query);
  }

  async close(): Promise<void> {
    await this.flows?.close();
  }

  private createFlowProducer(): void {
    const flows = new FlowProducer({ connection: this.options.connection, prefix: this.options.prefix });
    flows.on("error", (err) => this.options.logger.warn({ err }, "sweep flow producer error"));
    this.flows = flows;
  }

  private requireFlows(): FlowProducer {
    if (this.flows === undefined)
      throw unavailable("the sweep queue is not connected to Redis yet. Retry when /readyz returns 200.");
    return this.flows;
  }

  /**
   * Runs one Redis operation, failing fast with 503 when Redis is down, as the backtest job
   * layer does: the producer connection has no offline queue, and the timeout covers a
   * connection that hangs without erroring.
   */
  private async withRedis<T>(action: string, operation: () => Promise<T>): Promise<T> {
    const { connection, maskedAddress, commandTimeoutMs, logger } = this.options;
    if (connection.status !== "ready") {
      throw unavailable(
        `cannot ${action}: Redis at ${maskedAddress} is not reachable (connection ${connection.status}). Retry when /readyz returns 200.`,
      );
    }

    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            unavailable(
              `cannot ${action}: Redis at ${maskedAddress} did not answer within ${commandTimeoutMs} ms. Retry later.`,
            ),
          ),
        commandTimeoutMs,
      );
    });
    try {
      return await Promise.race([operation(), timeout]);
    } catch (err) {
      if (err instanceof Error && err.name === "ApiError") throw err;
      logger.warn({ err, action }, "Redis operation failed");
      throw unavailable(
        `cannot ${action}: Redis at ${maskedAddress} failed (${err instanceof Error ? err.message : String(err)}). Retry later.`,
      );
    } finally {
      clearTimeout(timer);
    }
  }
}
