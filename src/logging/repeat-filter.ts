/**
 * Decides whether a repeated error deserves a log line: a new error is logged at once, and the
 * same one again (same key) at most once per `intervalMs`. `suppressed` counts the repeats left
 * out since the previous line, so the next line can say how many there were.
 */
export interface RepeatFilter {
  /** Returns the count of repeats left out before this line, or undefined to leave this one out. */
  admit(key: string): number | undefined;
  /** Forgets the last error, for example after the connection recovered; returns the repeats left out. */
  reset(): number;
}

export function createRepeatFilter(intervalMs: number, now: () => number = Date.now): RepeatFilter {
  let lastKey: string | undefined;
  let lastLoggedAt = 0;
  let suppressed = 0;

  return {
    admit(key) {
      const time = now();
      if (key === lastKey && time - lastLoggedAt < intervalMs) {
        suppressed += 1;
        return undefined;
      }
      const left = suppressed;
      lastKey = key;
      lastLoggedAt = time;
      suppressed = 0;
      return left;
    },
    reset() {
      const left = suppressed;
      lastKey = undefined;
      suppressed = 0;
      return left;
    },
  };
}
