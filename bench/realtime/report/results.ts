/**
 * The results files: bench/results/<date>.json contains every run of that day, each with one entry
 * per scenario. A run is rewritten after each scenario, so a crash keeps what was measured.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

import type { Machine } from "../machine";
import type { ScenarioOutcome } from "../scenarios/types";

export const RESULTS_DIRECTORY = path.resolve(__dirname, "../../../../bench/results");

/** Files of this benchmark: `2026-12-04.json`; other benchmarks use other names in the folder. */
const RESULT_FILE = /^\d{4}-\d{2}-\d{2}\.json$/;

export interface ResultEntry extends ScenarioOutcome {
  scenario: string;
  startedAt: string;
  durationS: number;
  quick: boolean;
  machine: Machine;
  /** 1-, 5- and 15-minute load averages when the scenario started and ended. */
  loadAverage: { start: number[]; end: number[] };
}

export interface RunRecord {
  startedAt: string;
  command: string;
  quick: boolean;
  /** The `--note` of the run, such as which product change it measures. */
  note?: string;
  scenarios: string[];
  entries: ResultEntry[];
  /** Scenarios that threw, with the error. */
  errors: { scenario: string; message: string }[];
}

interface ResultFile {
  runs: RunRecord[];
}

function readResultFile(file: string): ResultFile {
  if (!existsSync(file)) return { runs: [] };
  return JSON.parse(readFileSync(file, "utf8")) as ResultFile;
}

/** Writes `run` into the file of its start date, replacing an earlier version of the same run. */
export function saveRun(run: RunRecord): string {
  mkdirSync(RESULTS_DIRECTORY, { recursive: true });
  const file = path.join(RESULTS_DIRECTORY, `${run.startedAt.slice(0, 10)}.json`);
  const content = readResultFile(file);
  const others = content.runs.filter((candidate) => candidate.startedAt !== run.startedAt);
  writeFileSync(file, `${JSON.stringify({ runs: [...others, run] }, null, 2)}\n`);
  return file;
}

/** Finds the latest full (not quick, not noted) entry of each scenario across every results file. */
export function latestFullEntries(): Map<string, ResultEntry> {
  const latest = new Map<string, ResultEntry>();
  if (!existsSync(RESULTS_DIRECTORY)) return latest;
  const files = readdirSync(RESULTS_DIRECTORY)
    .filter((name) => RESULT_FILE.test(name))
    .sort();
  for (const name of files) {
    for (const run of readResultFile(path.join(RESULTS_DIRECTORY, name)).runs) {
      // Noted runs measure a product change before or after; the docs show plain runs only.
      if (run.note !== undefined) continue;
      for (const entry of run.entries) {
        if (entry.quick) continue;
        const previous = latest.get(entry.scenario);
        if (previous === undefined || previous.startedAt < entry.startedAt) latest.set(entry.scenario, entry);
      }
    }
  }
  return latest;
}
