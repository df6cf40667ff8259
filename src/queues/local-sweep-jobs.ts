import { randomUUID } from "node:crypto";

import type { Logger } from "pino";

import {
  backtestRoom,
  type BacktestEvent,
  type BacktestSnapshot,
  type ErrorBody,
  type SweepSummary,
} from "../hubs/backtest-events";
import { emitEvent, type BacktestNamespace } from "../relay/event-payload";
import type { FromThread } from "../../workers/thread-messages";
import type { CancelOutcome } from "./backtest-jobs";
import { BacktestThreadPool } from "./backtest-thread-pool";
import { applyToSnapshot } from "./local-snapshot";
import { toProgress } from "./progress";
import { isTerminal } from "./redis-snapshot-store";
import type { SweepJobs } from "./sweep-jobs";
import { type GridAxis, type SweepRequest, combinationRequest, gridAxes, planChunks } from "./sweep-request";
import {
  BEST_SIZE,
  type ChunkResult,
  type HeatmapOutcome,
  type HeatmapQuery,
  buildHeatmap,
  mergeBest,
  noValidCombination,
  rankResults,
  summarizeSweep,
} from "./sweep-results";

/** Shortest time between two progress events of one sweep, in milliseconds. */
const PROGRESS_INTERVAL_MS = 100;

/** Separates a sweep id from the part a thread runs: a chunk number or `best`. */
const PART_SEPARATOR = "#";

export interface LocalSweepJobsOptions {
  namespace: BacktestNamespace;
  /** Threads that run the chunks of this web worker's sweeps. */
  concurrency: number;
  /** How long a finished sweep stays in memory, in seconds. */
  resultTtlS: number;
  logger: Logger;
}

interface LocalSweep {
  snapshot: BacktestSnapshot;
  request: SweepRequest;
  axes: GridAxis[];
  results: ChunkResult[];
  /** Thread ids of the chunks not reported yet. */
  pending: Set<string>;
  lastProgressAt: number;
  summary?: SweepSummary;
  expiry?: NodeJS.Timeout;
}

/**
 * Single-host sweeps: the web worker that accepts a sweep owns it, splits it into chunks over
 * a pool of its own threads, ranks the results and keeps them in memory for heatmaps. Events go
 * to every web worker through the cluster adapter, as those of local backtests do; other
 * workers reach the owner with `serverSideEmit`. Nothing survives a restart of the owner.
 * NOTE: a finished sweep's per-combination statistics stay in memory for RESULT_TTL_S, roughly
 * 30 numbers per combination, so many large sweeps can use hundreds of megabytes.
 */
export class LocalSweepJobs implements SweepJobs {
  private readonly sweeps = new Map<string, LocalSweep>();
  private pool: BacktestThreadPool | undefined;

  constructor(private readonly options: LocalSweepJobsOptions) {
    const { namespace } = options;
    namespace.on("sweep:snapshot", (id, reply) => reply(this.sweeps.get(id)?.snapshot ?? null));
    namespace.on("sweep:cancel", (id, reply) => reply(this.cancelOwned(id)));
    namespace.on("sweep:heatmap", (id, query, reply) => reply(this.heatmapOwned(id, query)));
  }

  async submit(request: SweepRequest, rows: number): Promise<string> {
    const id = randomUUID();
    const axes = gridAxes(request);
    const chunks = planChunks(
      axes.reduce((count, axis) => count * axis.values.length, 1),
      rows,
    );
    const total = chunks.reduce((sum, chunk) => sum + chunk.count, 0);
    const sweep: LocalSweep = {
      snapshot: { id, state: "queued", seq: 0, progress: toProgress(0, total) },
      request,
      axes,
      results: [],
      pending: new Set(chunks.map((chunk) => `${id}${PART_SEPARATOR}${chunk.chunk}`)),
      lastProgressAt: 0,
    };
    this.sweeps.set(id, sweep);

    const pool = this.requirePool();
    for (const chunk of chunks) pool.runChunk(`${id}${PART_SEPARATOR}${chunk.chunk}`, request, chunk);
    this.options.logger.info({ sweepId: id, combinations: total, chunks: chunks.length }, "sweep started");
    return id;
  }

  async snapshot(id: string): Promise<BacktestSnapshot | undefined> {
    const local = this.sweeps.get(id);
    if (local !== undefined) return local.snapshot;
    const answers = await this.askPeers<BacktestSnapshot | null>(
      (done) => this.options.namespace.serverSideEmit("sweep:snapshot", id, done),
      id,
    );
    return answers.find((answer): answer is BacktestSnapshot => answer !== null && answer !== undefined);
  }

  async cancel(id: string): Promise<CancelOutcome> {
    if (this.sweeps.has(id)) return this.cancelOwned(id);
    const answers = await this.askPeers<CancelOutcome>(
      (done) => this.options.namespace.serverSideEmit("sweep:cancel", id, done),
      id,
    );
    return answers.find((answer) => answer !== undefined && answer.status !== "not_found") ?? { status: "not_found" };
  }

  async heatmap(id: string, query: HeatmapQuery): Promise<HeatmapOutcome> {
    if (this.sweeps.has(id)) return this.heatmapOwned(id, query);
    const answers = await this.askPeers<HeatmapOutcome>(
      (done) => this.options.namespace.serverSideEmit("sweep:heatmap", id, query, done),
      id,
    );
    return answers.find((answer) => answer !== undefined && answer.status !== "not_found") ?? { status: "not_found" };
  }

  async close(): Promise<void> {
    for (const sweep of this.sweeps.values()) clearTimeout(sweep.expiry);
    await this.pool?.close();
  }

  /** Starts the threads with the first sweep, so a worker that runs no sweep has no sweep threads. */
  private requirePool(): BacktestThreadPool {
    this.pool ??= new BacktestThreadPool({
      size: this.options.concurrency,
      onMessage: (message) => this.onThreadMessage(message),
      logger: this.options.logger,
    });
    return this.pool;
  }

  private cancelOwned(id: string): CancelOutcome {
    const sweep = this.sweeps.get(id);
    if (sweep === undefined) return { status: "not_found" };
    if (isTerminal(sweep.snapshot.state)) return { status: "finished", snapshot: sweep.snapshot };

    this.stopParts(id, sweep);
    this.apply(id, { type: "cancelled", id, seq: 0 });
    this.options.logger.info({ sweepId: id }, "sweep cancelled");
    return { status: "accepted", snapshot: sweep.snapshot };
  }

  private heatmapOwned(id: string, query: HeatmapQuery): HeatmapOutcome {
    const sweep = this.sweeps.get(id);
    if (sweep === undefined) return { status: "not_found" };
    return buildHeatmap(sweep.request, sweep.axes, sweep.results, query);
  }

  /** Removes waiting chunks from the pool, and cancels the running ones and the final backtest. */
  private stopParts(id: string, sweep: LocalSweep): void {
    const pool = this.pool;
    if (pool === undefined) return;
    for (const part of [...sweep.pending, `${id}${PART_SEPARATOR}best`]) {
      if (!pool.dequeue(part)) pool.cancel(part);
    }
    sweep.pending.clear();
  }

  private onThreadMessage(message: FromThread): void {
    const separator = message.id.lastIndexOf(PART_SEPARATOR);
    const id = message.id.slice(0, separator);
    const sweep = this.sweeps.get(id);
    if (sweep === undefined || isTerminal(sweep.snapshot.state)) return;

    switch (message.type) {
      case "chunk-completed":
        this.onChunk(id, sweep, message.id, message.result);
        return;
      case "completed":
        this.apply(id, { type: "completed", id, seq: 0, result: { ...message.result, sweep: sweep.summary } });
        this.options.logger.info({ sweepId: id, evaluated: sweep.summary?.evaluated }, "sweep completed");
        return;
      case "failed":
        this.fail(id, sweep, message.error);
        return;
      case "progress":
      case "cancelled":
        // Progress of the final backtest is not the sweep's; a part is cancelled only after the sweep was.
        return;
    }
  }

  private onChunk(id: string, sweep: LocalSweep, part: string, result: ChunkResult): void {
    if (!sweep.pending.delete(part)) return;
    sweep.results.push(result);

    const processed = sweep.snapshot.progress.processed + result.count;
    const total = sweep.snapshot.progress.total;
    const added = rankResults([result], sweep.axes, sweep.request.rankBy, sweep.request.order, BEST_SIZE);
    const best = mergeBest(sweep.snapshot.best ?? [], added, sweep.request.rankBy, sweep.request.order);
    const now = Date.now();
    if (processed === total || now - sweep.lastProgressAt >= PROGRESS_INTERVAL_MS) {
      sweep.lastProgressAt = now;
      this.apply(id, { type: "progress", id, seq: 0, ...toProgress(processed, total), best });
    } else {
      // Counted now and published with the next event.
      sweep.snapshot.progress = toProgress(processed, total);
      sweep.snapshot.best = best;
    }
    if (sweep.pending.size === 0) this.finish(id, sweep);
  }

  /** Ranks the results and reruns the best combination in full, for its trades and equity curve. */
  private finish(id: string, sweep: LocalSweep): void {
    const summary = summarizeSweep(sweep.request, sweep.axes, sweep.results);
    sweep.summary = summary;
    const best = summary.ranking[0];
    if (best === undefined) {
      this.fail(id, sweep, noValidCombination(summary));
      return;
    }
    this.requirePool().run(`${id}${PART_SEPARATOR}best`, combinationRequest(sweep.request, best.params));
  }

  private fail(id: string, sweep: LocalSweep, error: ErrorBody): void {
    this.stopParts(id, sweep);
    this.apply(id, { type: "failed", id, seq: 0, error });
    this.options.logger.warn({ sweepId: id, error }, "sweep failed");
  }

  /** Numbers the event, applies it to the snapshot and emits it to every web worker. */
  private apply(id: string, unnumbered: BacktestEvent): void {
    const sweep = this.sweeps.get(id);
    if (sweep === undefined || isTerminal(sweep.snapshot.state)) return;

    const snapshot = sweep.snapshot;
    const event = applyToSnapshot(snapshot, unnumbered);

    if (isTerminal(snapshot.state)) {
      sweep.expiry = setTimeout(() => this.sweeps.delete(id), this.options.resultTtlS * 1000);
      sweep.expiry.unref();
    }
    emitEvent(this.options.namespace.to(backtestRoom(id)), event);
  }

  /** Sends a request to every other web worker. Responses that did not arrive in time are left out. */
  private askPeers<T>(
    send: (done: (err: Error | null, answers: T[] | undefined) => void) => void,
    id: string,
  ): Promise<T[]> {
    return new Promise((resolve) => {
      send((err, answers) => {
        if (err) this.options.logger.warn({ err, sweepId: id }, "some web workers did not respond");
        resolve(answers ?? []);
      });
    });
  }
}
