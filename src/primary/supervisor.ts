import type { Logger } from "pino";

/** A child process as the supervisor sees it: a cluster worker or a forked job process. */
export interface SupervisedChild {
  pid: number | undefined;
  onExit(listener: (code: number | null, signal: NodeJS.Signals | null) => void): void;
  kill(signal: NodeJS.Signals): void;
}

export interface SupervisorOptions {
  /** Role of the children, for logs: `web` or `jobs`. */
  role: string;
  count: number;
  spawn: () => SupervisedChild;
  /** Delay before the first respawn of a slot, doubled after each quick death, in milliseconds. */
  backoffMs: number;
  /** Cap of the respawn delay, in milliseconds. */
  maxBackoffMs: number;
  /** A child that lived at least this long resets its slot's backoff, in milliseconds. */
  healthyAfterMs: number;
  logger: Logger;
}

interface Slot {
  child: SupervisedChild | undefined;
  startedAt: number;
  failures: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Keeps `count` children alive. A child that exits is logged with its pid, exit code and signal
 * and replaced after a delay that doubles while children keep dying young, so a crash loop
 * cannot spin. After `stop()` nothing is respawned.
 */
export class Supervisor {
  private readonly slots: Slot[] = [];
  private stopping = false;

  constructor(private readonly options: SupervisorOptions) {}

  start(): void {
    for (let i = 0; i < this.options.count; i += 1) {
      const slot: Slot = { child: undefined, startedAt: 0, failures: 0, timer: undefined };
      this.slots.push(slot);
      this.launch(slot);
    }
  }

  children(): SupervisedChild[] {
    return this.slots.flatMap((slot) => (slot.child === undefined ? [] : [slot.child]));
  }

  /** Stops respawning, sends `signal` to every child and resolves when all have exited. */
  async stop(signal: NodeJS.Signals): Promise<void> {
    this.stopping = true;
    const exits = this.slots.map((slot) => {
      clearTimeout(slot.timer);
      const child = slot.child;
      if (child === undefined) return Promise.resolve();
      return new Promise<void>((resolve) => {
        child.onExit(() => resolve());
        child.kill(signal);
      });
    });
    await Promise.all(exits);
  }

  /** Kills every child still running with SIGKILL. */
  killAll(): void {
    for (const child of this.children()) child.kill("SIGKILL");
  }

  private launch(slot: Slot): void {
    const { role, logger } = this.options;
    const child = this.options.spawn();
    slot.child = child;
    slot.startedAt = Date.now();
    logger.info({ child: role, childPid: child.pid }, "child started");

    child.onExit((code, signal) => {
      if (slot.child !== child) return;
      slot.child = undefined;
      if (this.stopping) {
        logger.info({ child: role, childPid: child.pid, code, signal }, "child exited");
        return;
      }
      this.scheduleRespawn(slot, child, code, signal);
    });
  }

  private scheduleRespawn(
    slot: Slot,
    child: SupervisedChild,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): void {
    const { role, logger, backoffMs, maxBackoffMs, healthyAfterMs } = this.options;
    const livedMs = Date.now() - slot.startedAt;
    // `failures` counts the quick deaths before this one, so the first respawn waits backoffMs.
    if (livedMs >= healthyAfterMs) slot.failures = 0;
    const delayMs = Math.min(maxBackoffMs, backoffMs * 2 ** slot.failures);
    slot.failures += 1;

    logger.error(
      { child: role, childPid: child.pid, code, signal, livedMs, respawnInMs: delayMs },
      "child died; respawning",
    );
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (!this.stopping) this.launch(slot);
    }, delayMs);
  }
}
