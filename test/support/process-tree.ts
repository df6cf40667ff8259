import type { BackplaneProcess, LogLine } from "./backplane";

/**
 * Returns whether a process with this pid exists, as `kill(pid, 0)` reports it. A zombie that its
 * parent has not reaped yet still exists.
 */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw err;
  }
}

/** Waits until none of `pids` exists; throws naming the survivors after `timeoutMs`. */
export async function waitForProcessesGone(pids: readonly number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const alive = pids.filter(processExists);
    if (alive.length === 0) return;
    if (Date.now() >= deadline)
      throw new Error(`processes ${alive.join(", ")} still exist ${timeoutMs} ms after the primary exited`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Sends SIGKILL to every pid that still exists, for cleanup after a test that left children behind. */
export function killSurvivors(pids: readonly number[]): void {
  for (const pid of pids) {
    if (!processExists(pid)) continue;
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // It exited between the check and the kill.
    }
  }
}

/** Returns every child the primary logged as started, web workers and job processes, in start order. */
export function startedChildren(backplane: BackplaneProcess, role?: "web" | "jobs"): { role: string; pid: number }[] {
  return backplane.lines
    .filter(
      (line) =>
        line.role === "primary" && line.msg === "child started" && (role === undefined || line["child"] === role),
    )
    .map((line) => ({ role: String(line["child"]), pid: Number(line["childPid"]) }));
}

/** Log lines at pino level error (50) or above, from any process of the instance. */
export function errorLines(backplane: BackplaneProcess): LogLine[] {
  return backplane.lines.filter((line) => (line.level ?? 0) >= 50);
}
