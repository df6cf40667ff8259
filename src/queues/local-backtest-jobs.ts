import { randomUUID } from "node:crypto";

import type { Logger } from "pino";

import { backtestRoom, type BacktestEvent, type BacktestSnapshot } from "../hubs/backtest-events";
import { emitEvent, type BacktestNamespace } from "../relay/event-payload";
import type { FromThread } from "../../workers/thread-messages";
import type { BacktestJobs, CancelOutcome, Readiness } from "./backtest-jobs";
import type { BacktestRequest } from "./backtest-request";
import { BacktestThreadPool } from "./backtest-thread-pool";
import { applyToSnapshot } from "./local-snapshot";
import { toProgress } from "./progress";
import { isTerminal } from "./redis-snapshot-store";

export interface LocalBacktestJobsOptions {
  namespace: BacktestNamespace;
  /** Backtests this web worker runs at once, each in its own worker thread. */
  concurrency: number;
  resultTtlS: number;
  logger: Logger;
}

interface LocalRecord {
  snapshot: BacktestSnapshot;
  /** Kept so that the full equity curve can be computed again. */
  request: BacktestRequest;
  expiry?: NodeJS.Timeout;
}

/**
 * Single-host mode: the web worker that accepts a backtest owns it, runs it in one of its worker
 * threads and keeps its snapshot in memory. Events go to every web worker through the cluster
 * adapter. Other workers reach the owner with `serverSideEmit` to read or cancel a backtest.
 * Nothing here survives a restart of the owning worker.
 */
export class LocalBacktestJobs implements BacktestJobs {
  private readonly records = new Map<string, LocalRecord>();
  private readonly pool: BacktestThreadPool;
  private readonly namespace: BacktestNamespace;

  constructor(private readonly options: LocalBacktestJobsOptions) {
    this.namespace = options.namespace;
    this.pool = new BacktestThreadPool({
      size: options.concurrency,
      onMessage: (message) => this.onThreadMessage(message),
      logger: options.logger,
    });

    this.namespace.on("backtest:snapshot", (id, reply) => {
      reply(this.records.get(id)?.snapshot ?? null);
    });
    this.namespace.on("backtest:cancel", (id, reply) => {
      reply(this.cancelOwned(id));
    });
    this.namespace.on("backtest:request", (id, reply) => {
      reply(this.records.get(id)?.request ?? null);
    });
  }

  readiness(): Readiness {
    return { ready: true };
  }

  async submit(request: BacktestRequest): Promise<string> {
    const id = randomUUID();
    this.records.set(id, { snapshot: { id, state: "queued", seq: 0, progress: toProgress(0, 0) }, request });
    this.pool.run(id, request);
    return Promise.resolve(id);
  }

  async snapshot(id: string): Promise<BacktestSnapshot | undefined> {
    const local = this.records.get(id);
    if (local !== undefined) return local.snapshot;

    const answers = await this.askPeers("backtest:snapshot", id);
    return answers.find((answer): answer is BacktestSnapshot => answer !== null && answer !== undefined);
  }

  async request(id: string): Promise<BacktestRequest | undefined> {
    const local = this.records.get(id);
    if (local !== undefined) return local.request;

    const answers = await this.askPeers("backtest:request", id);
    return answers.find((answer): answer is BacktestRequest => answer !== null && answer !== undefined);
  }

  async cancel(id: string): Promise<CancelOutcome> {
    if (this.records.has(id)) return this.cancelOwned(id);

    const answers = await this.askPeers("backtest:cancel", id);
    return answers.find((answer) => answer !== undefined && answer.status !== "not_found") ?? { status: "not_found" };
  }

  async close(): Promise<void> {
    for (const record of this.records.values()) clearTimeout(record.expiry);
    await this.pool.close();
  }

  private cancelOwned(id: string): CancelOutcome {
    const record = this.records.get(id);
    if (record === undefined) return { status: "not_found" };
    if (isTerminal(record.snapshot.state)) return { status: "finished", snapshot: record.snapshot };

    if (this.pool.dequeue(id)) {
      this.apply({ type: "cancelled", id, seq: 0 });
    } else {
      this.pool.cancel(id);
    }
    return { status: "accepted", snapshot: record.snapshot };
  }

  private onThreadMessage(message: FromThread): void {
    switch (message.type) {
      case "progress":
        this.apply({ type: "progress", id: message.id, seq: 0, ...toProgress(message.processed, message.total) });
        return;
      case "completed":
        this.apply({ type: "completed", id: message.id, seq: 0, result: message.result });
        return;
      case "failed":
        this.apply({ type: "failed", id: message.id, seq: 0, error: message.error });
        return;
      case "cancelled":
        this.apply({ type: "cancelled", id: message.id, seq: 0 });
        return;
    }
  }

  /** Numbers the event, applies it to the snapshot and emits it to every web worker. */
  private apply(unnumbered: BacktestEvent): void {
    const record = this.records.get(unnumbered.id);
    if (record === undefined || isTerminal(record.snapshot.state)) return;

    const snapshot = record.snapshot;
    const event = applyToSnapshot(snapshot, unnumbered);

    if (isTerminal(snapshot.state)) {
      record.expiry = setTimeout(() => this.records.delete(event.id), this.options.resultTtlS * 1000);
      record.expiry.unref();
    }
    emitEvent(this.namespace.to(backtestRoom(event.id)), event);
  }

  /** Sends a request to every other web worker. Responses that did not arrive in time are left out. */
  private askPeers(event: "backtest:snapshot", id: string): Promise<(BacktestSnapshot | null)[]>;
  private askPeers(event: "backtest:cancel", id: string): Promise<CancelOutcome[]>;
  private askPeers(event: "backtest:request", id: string): Promise<(BacktestRequest | null)[]>;
  private askPeers(
    event: "backtest:snapshot" | "backtest:cancel" | "backtest:request",
    id: string,
  ): Promise<unknown[]> {
    return new Promise((resolve) => {
      const done = (err: Error | null, answers: unknown[] | undefined) => {
        if (err) this.options.logger.warn({ err, backtestId: id, event }, "some web workers did not respond");
        resolve(answers ?? []);
      };
      if (event === "backtest:snapshot") this.namespace.serverSideEmit(event, id, done);
      else if (event === "backtest:cancel") this.namespace.serverSideEmit(event, id, done);
      else this.namespace.serverSideEmit(event, id, done);
    });
  }
}
