import type { Queue } from "bullmq";
import type { Logger } from "pino";

/** Jobs removed per call, so that a large backlog is removed over several intervals. */
const CLEAN_LIMIT = 1_000;

export interface FinishedJobCleanerOptions {
  queue: Queue;
  /** Age in seconds after which a finished job is removed: the result's time to live. */
  maxAgeS: number;
  logger: Logger;
}

/**
 * Removes completed and failed jobs older than `maxAgeS` at a regular interval. BullMQ removes
 * such jobs (removeOnComplete and removeOnFail by age) only when a later job of the queue
 * finishes, so without this a result could outlive its time to live for as long as no other
 * backtest finishes.
 */
export function startFinishedJobCleaner(options: FinishedJobCleanerOptions): { stop(): void } {
  const { queue, maxAgeS, logger } = options;
  // Every half of the time to live, but no more often than once a second and at least once a minute.
  const intervalMs = Math.min(60_000, Math.max(1_000, maxAgeS * 500));
  let running = false;

  const clean = async (): Promise<void> => {
    if (running) return;
    running = true;
    try {
      for (const state of ["completed", "failed"] as const) {
        const removed = await queue.clean(maxAgeS * 1000, CLEAN_LIMIT, state);
        if (removed.length > 0) logger.debug({ queue: queue.name, state, removed: removed.length }, "removed old jobs");
      }
    } catch (err) {
      logger.warn({ err, queue: queue.name }, "removing old jobs failed; trying again at the next interval");
    } finally {
      running = false;
    }
  };

  const timer = setInterval(() => void clean(), intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
    },
  };
}
