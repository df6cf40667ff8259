import { describe, expect, test } from "vitest";

import { createProgressReporter, renderBar } from "../../src/cli/progress-reporter";
import { formatStatValue, formatStatsTable } from "../../src/cli/stats-table";

function captureStream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, write: (text: string) => writes.push(text) } };
}

function progressAt(percent: number) {
  return { processed: percent * 10, total: 1_000, percent };
}

describe("progress reporter", () => {
  test("pipe gets a line per 10%", () => {
    const { writes, stream } = captureStream(false);
    const reporter = createProgressReporter(stream);

    for (const percent of [0, 4, 9.9, 10, 15, 35, 35, 99, 100]) {
      reporter.update(progressAt(percent));
    }

    expect(writes).toEqual(["progress 10%\n", "progress 30%\n", "progress 90%\n", "progress 100%\n"]);
  });

  test("terminal bar is throttled", () => {
    const { writes, stream } = captureStream(true);
    let nowMs = 0;
    const reporter = createProgressReporter(stream, () => nowMs);

    reporter.update(progressAt(10));
    nowMs = 50;
    reporter.update(progressAt(20));
    nowMs = 150;
    reporter.update(progressAt(30));
    nowMs = 160;
    // The final update is drawn at once, whatever the interval.
    reporter.update(progressAt(100));

    expect(writes).toEqual([
      `\r${renderBar(progressAt(10))}\x1b[K`,
      `\r${renderBar(progressAt(30))}\x1b[K`,
      `\r${renderBar(progressAt(100))}\x1b[K`,
    ]);
  });

  test("terminal log keeps the bar below", () => {
    const { writes, stream } = captureStream(true);
    const reporter = createProgressReporter(stream, () => 0);

    reporter.update(progressAt(40));
    reporter.log("warning: reconnecting");
    reporter.clear();

    expect(writes).toEqual([
      `\r${renderBar(progressAt(40))}\x1b[K`,
      "\r\x1b[K",
      "warning: reconnecting\n",
      `\r${renderBar(progressAt(40))}\x1b[K`,
      "\r\x1b[K",
    ]);
  });

  test("bar shows percent and bar counts", () => {
    expect(renderBar({ processed: 3_000, total: 10_000, percent: 30 })).toBe(
      "[#########---------------------]  30.0%  3,000/10,000 bars",
    );
    expect(renderBar({ processed: 0, total: 0, percent: Number.NaN })).toBe(
      "[------------------------------]   0.0%  0/0 bars",
    );
    expect(renderBar({ processed: 12, total: 10, percent: 120 })).toBe(
      "[##############################] 100.0%  12/10 bars",
    );
  });
});

describe("stats table", () => {
  test.each([
    [null, "n/a"],
    ["2018-01-01 00:00:00", "2018-01-01 00:00:00"],
    [42, "42"],
    [-1_234_567, "-1,234,567"],
    [12_345.678, "12,345.68"],
    [-3.14159, "-3.14"],
    [0.812_34, "0.8123"],
    [0.5, "0.50"],
    [0.000_123_456, "0.0001235"],
    [Number.POSITIVE_INFINITY, "Infinity"],
  ])("value %s formats as %s", (value, expected) => {
    expect(formatStatValue(value)).toBe(expected);
  });

  test("columns are aligned", () => {
    const table = formatStatsTable({ "Return [%]": 23.456, trades: 120, "Max. Drawdown [%]": -8.5 });

    expect(table).toBe(
      ["Return [%]         23.46", "trades               120", "Max. Drawdown [%]  -8.50", ""].join("\n"),
    );
  });
});
