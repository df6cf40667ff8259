/** The context a scenario receives from the runner and the outcome it returns. */

export interface ScenarioContext {
  /** Shorter steps and fewer clients, for smoke runs. */
  quick: boolean;
  /** Load generator processes per server setup (doubled for the headroom check). */
  generators: number;
  /** Writes one progress line to the console. */
  log(message: string): void;
}

/** One target of the issue, checked against the figures of this run. */
export interface TargetCheck {
  name: string;
  /** The target as written, such as "≤ 20 ms". */
  target: string;
  /** The figure it is checked against, with its unit. */
  measured: string;
  /** null when the run did not measure it, such as a quick run that stops short of the count. */
  met: boolean | null;
  /** The reason the target is missed or unmeasured, when the figures alone do not show it. */
  note?: string;
}

/** A scenario's result, before the runner adds the machine and the load average. */
export interface ScenarioOutcome {
  /** The knobs of this run: counts, rates, durations, process counts. */
  settings: Record<string, unknown>;
  /** The measured figures, per server setup. */
  figures: Record<string, unknown>;
  /** Rows of the summary table in docs/benchmarks.md. */
  summary: SummaryRow[];
  targets: TargetCheck[];
  notes: string[];
}

/** One line of the summary table: a server setup and its headline figures. */
export interface SummaryRow {
  setup: string;
  /** Throughput with its unit, such as "152,000 deliveries/s". */
  throughput: string;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  /** delivered ÷ expected, from 0 to 1; null where nothing is delivered. */
  deliveredRatio: number | null;
  /** Server RSS, summed over its processes, in MiB. */
  rssMiB: number | null;
  /** Server CPU seconds per million deliveries (or per million jobs in the jobs scenario). */
  cpuSecondsPerMillion: number | null;
}

export interface Scenario {
  name: string;
  /** One line for `--help`. */
  description: string;
  run(context: ScenarioContext): Promise<ScenarioOutcome>;
}
