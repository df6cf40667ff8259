/**
 * Entry of `npm run bench`: the realtime path's benchmark suite. Runs every scenario, or those
 * named on the command line, writes bench/results/<date>.json and, after a full run, the summary
 * in docs/benchmarks.md. bench/realtime/run.sh raises the open-file limit first.
 */
import { round } from "./clock";
import { describeMachine, loadAverage, openFilesLimit } from "./machine";
import { updateBenchmarksDoc } from "./report/docs";
import { saveRun, type RunRecord } from "./report/results";
import { adaptersScenario } from "./scenarios/adapters";
import { fanoutScenario } from "./scenarios/fanout";
import { jobsScenario } from "./scenarios/jobs";
import { memoryScenario } from "./scenarios/memory";
import { progressScenario } from "./scenarios/progress";
import { reconnectScenario } from "./scenarios/reconnect";
import type { Scenario } from "./scenarios/types";

const SCENARIOS: Scenario[] = [
  fanoutScenario,
  adaptersScenario,
  progressScenario,
  memoryScenario,
  reconnectScenario,
  jobsScenario,
];

/** Open files the scenarios need: 100,000 connections counted at both ends, plus margin. */
const REQUIRED_OPEN_FILES = 250_000;

interface Options {
  scenarios: Scenario[];
  quick: boolean;
  generators: number;
  updateDocs: boolean;
  /** Free text stored with the run, such as "before: relay parses every event". */
  note: string | undefined;
}

function usage(): string {
  const lines = SCENARIOS.map((scenario) => `  ${scenario.name.padEnd(10)} ${scenario.description}`);
  return [
    "usage: npm run bench -- [scenario ...] [--quick] [--generators N] [--no-docs] [--note TEXT]",
    "",
    "scenarios (all when none is named):",
    ...lines,
    "",
    "  --quick          short steps and fewer clients, for a smoke run; results are marked quick and never reach the docs",
    "  --generators N   load generator processes per server setup (default 2; the fanout headroom check doubles it)",
    "  --no-docs        write bench/results only, leave docs/benchmarks.md alone",
    "  --note TEXT      a remark stored with the run, such as which product change it measures",
  ].join("\n");
}

function parseOptions(argv: string[]): Options {
  const options: Options = { scenarios: [], quick: false, generators: 2, updateDocs: true, note: undefined };
  for (let i = 0; i < argv.length; i += 1) {
    const argument = argv[i] as string;
    if (argument === "--quick") options.quick = true;
    else if (argument === "--no-docs") options.updateDocs = false;
    else if (argument === "--generators") {
      const value = Number(argv[i + 1]);
      if (!Number.isInteger(value) || value < 1 || value > 16)
        throw new UsageError(
          `--generators takes an integer from 1 to 16, got ${argv[i + 1] ?? "nothing"}; for example --generators 4`,
        );
      options.generators = value;
      i += 1;
    } else if (argument === "--note") {
      const value = argv[i + 1];
      if (value === undefined || value === "") throw new UsageError("--note takes a text");
      options.note = value;
      i += 1;
    } else if (argument === "--help" || argument === "-h") {
      throw new UsageError("");
    } else {
      const scenario = SCENARIOS.find((candidate) => candidate.name === argument);
      if (scenario === undefined) throw new UsageError(`unknown scenario or option "${argument}"`);
      options.scenarios.push(scenario);
    }
  }
  if (options.scenarios.length === 0) options.scenarios = [...SCENARIOS];
  return options;
}

class UsageError extends Error {}

function log(message: string): void {
  process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    if (err.message !== "") process.stderr.write(`${err.message}\n\n`);
    process.stderr.write(`${usage()}\n`);
    return err.message === "" ? 0 : 2;
  }

  const limit = openFilesLimit();
  if (limit < REQUIRED_OPEN_FILES) {
    log(
      `warning: the open-file limit is ${limit} (run.sh could not raise it to ${REQUIRED_OPEN_FILES}); ` +
        `the memory scenario holds at most ${limit - 1_000} connections per process`,
    );
  }

  const machine = describeMachine();
  log(
    `${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, Redis ${machine.redis}, load ${loadAverage().join(" ")}`,
  );
  const run: RunRecord = {
    startedAt: new Date().toISOString(),
    command: ["npm run bench --", ...process.argv.slice(2)].join(" "),
    quick: options.quick,
    ...(options.note === undefined ? {} : { note: options.note }),
    scenarios: options.scenarios.map((scenario) => scenario.name),
    entries: [],
    errors: [],
  };

  for (const scenario of options.scenarios) {
    const startedAt = new Date();
    const loadAtStart = loadAverage();
    log(`scenario ${scenario.name} started (load ${loadAtStart.join(" ")})`);
    try {
      const outcome = await scenario.run({ quick: options.quick, generators: options.generators, log });
      const entry = {
        scenario: scenario.name,
        startedAt: startedAt.toISOString(),
        durationS: round((Date.now() - startedAt.getTime()) / 1000, 1),
        quick: options.quick,
        machine,
        loadAverage: { start: loadAtStart, end: loadAverage() },
        ...outcome,
      };
      run.entries.push(entry);
      for (const target of outcome.targets) {
        log(
          `  ${target.met === null ? "n/a " : target.met ? "met " : "MISS"} ${target.name}: ${target.measured} (target ${target.target})`,
        );
      }
      log(`scenario ${scenario.name} finished in ${entry.durationS} s`);
    } catch (err) {
      const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
      run.errors.push({ scenario: scenario.name, message });
      log(`scenario ${scenario.name} failed: ${message}`);
    }
    log(`results written to ${saveRun(run)}`);
  }

  if (options.updateDocs && !options.quick && run.entries.length > 0) {
    const file = await updateBenchmarksDoc();
    log(`summary written to ${file}`);
  }
  return run.errors.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
