/** Commands that every server under test serves to the coordinator. */
import type { PublishReport, PublishSpec } from "../publish/open-loop";

export interface ServerCommands {
  /** Publishes from inside the server (baseline, cluster adapter); not served where an outside publisher is used. */
  publish: { args: PublishSpec; result: PublishReport };
  /** Runs a full garbage collection in every process of the server, before memory is read. */
  gc: { args: null; result: null };
}

/** Commands of the publisher process that publishes through Redis. */
export interface PublisherCommands {
  /** Creates the snapshots that subscribers need before they can subscribe (product only). */
  prepare: { args: { ids: string[] }; result: null };
  publish: { args: PublishSpec; result: PublishReport };
}

/** Runs V8's full collection when the process was started with --expose-gc. */
export function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
}
