import type { SweepChunk, SweepRequest } from "./sweep-request";

/**
 * BullMQ queue of sweep parents. A sweep is a BullMQ flow: one parent job, whose id is the sweep
 * id, and one child job per chunk. BullMQ starts the parent once every child has completed, and
 * the parent ranks the chunk results and emits `completed`.
 */
export const SWEEP_QUEUE = "sweeps";

/** BullMQ queue of sweep chunks, spread over every job process. */
export const SWEEP_CHUNK_QUEUE = "sweep-chunks";

/** Data of a sweep's parent job; the request and the results are in the sweep's Redis hash. */
export interface SweepJobData {
  sweepId: string;
}

/** Data of one chunk job; its id is `<sweep id>-<chunk>`. */
export interface SweepChunkJobData {
  sweepId: string;
  request: SweepRequest;
  chunk: SweepChunk;
}
