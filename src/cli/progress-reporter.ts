import type { Progress } from "../hubs/backtest-events";

const BAR_WIDTH = 30;
/** Minimum time in ms between two redraws of the bar, so that fast backtests do not flood the terminal. */
const REDRAW_INTERVAL_MS = 100;
/** Step in percent between two lines when stderr is not a terminal. */
const LINE_STEP_PERCENT = 10;

export interface ProgressReporter {
  update(progress: Progress): void;
  /** Writes a message on its own line, above the bar when there is one. */
  log(message: string): void;
  /** Removes the bar, so that the next output starts on a clean line. */
  clear(): void;
}

/** The subset of a stream that the reporter uses, so that tests can pass a plain object. */
export interface ReporterStream {
  isTTY?: boolean;
  write(text: string): unknown;
}

/**
 * Creates a reporter that draws a bar rewritten in place on a terminal, and otherwise writes a
 * "progress N%" line each time the progress crosses another 10%.
 */
export function createProgressReporter(stream: ReporterStream, now: () => number = Date.now): ProgressReporter {
  return stream.isTTY === true ? createBarReporter(stream, now) : createLineReporter(stream);
}

function createBarReporter(stream: ReporterStream, now: () => number): ProgressReporter {
  let drawn: Progress | undefined;
  let lastDrawMs = Number.NEGATIVE_INFINITY;

  function draw(progress: Progress): void {
    stream.write(`\r${renderBar(progress)}\x1b[K`);
    drawn = progress;
    lastDrawMs = now();
  }

  function clear(): void {
    if (drawn !== undefined) {
      stream.write("\r\x1b[K");
    }
  }

  return {
    update(progress) {
      const isFinal = progress.total > 0 && progress.processed >= progress.total;
      if (isFinal || now() - lastDrawMs >= REDRAW_INTERVAL_MS) {
        draw(progress);
      }
    },
    log(message) {
      clear();
      stream.write(`${message}\n`);
      if (drawn !== undefined) {
        draw(drawn);
      }
    },
    clear() {
      clear();
      drawn = undefined;
    },
  };
}

function createLineReporter(stream: ReporterStream): ProgressReporter {
  let lastStep = 0;

  return {
    update(progress) {
      const step = Math.floor(clampPercent(progress.percent) / LINE_STEP_PERCENT) * LINE_STEP_PERCENT;
      if (step > lastStep) {
        lastStep = step;
        stream.write(`progress ${step}%\n`);
      }
    },
    log(message) {
      stream.write(`${message}\n`);
    },
    clear() {},
  };
}

/** Renders e.g. `[#########---------------------]  30.0%  3,000/10,000 bars`. */
export function renderBar(progress: Progress): string {
  const percent = clampPercent(progress.percent);
  const filled = Math.round((percent / 100) * BAR_WIDTH);
  const bar = "#".repeat(filled) + "-".repeat(BAR_WIDTH - filled);
  const counts = `${formatCount(progress.processed)}/${formatCount(progress.total)} bars`;
  return `[${bar}] ${percent.toFixed(1).padStart(5)}%  ${counts}`;
}

function clampPercent(percent: number): number {
  return Number.isFinite(percent) ? Math.min(100, Math.max(0, percent)) : 0;
}

function formatCount(count: number): string {
  return count.toLocaleString("en-US");
}
