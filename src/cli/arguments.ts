import { parseArgs } from "node:util";

import type { BacktestRequest, StrategyParamValue, TransportName } from "../client/backtest-client";

export const DEFAULT_URL = "http://localhost:3000";
const DEFAULT_CASH = 10_000;
/** The server's default, so that the CLI and a bare POST /api/backtests run the same backtest. */
const DEFAULT_COMMISSION = 0;

/**
 * Datasets whose id starts with this prefix trade fractional units by default. One BTC closed above the default
 * 10,000 cash in about 70% of the hours of data/BTCUSDT-1h-2018-2025.csv.gz, and with whole units a strategy
 * stops trading once the price passes its equity.
 */
const FRACTIONAL_DATASET_PREFIX = "btcusdt";

const TRANSPORT_NAMES: readonly TransportName[] = ["websocket", "polling"];

export const USAGE = `Usage: npm run backtest -- --dataset ID --strategy ID [options]

Runs a backtest on a Backplane server, shows its progress on stderr and prints its statistics on stdout.

Options:
  --dataset ID           dataset to test on, e.g. btcusdt-1h (required)
  --strategy ID          strategy to run, e.g. sma-cross (required)
  --fast N               strategy parameter "fast", e.g. the fast moving-average period of sma-cross
  --slow N               strategy parameter "slow", e.g. the slow moving-average period of sma-cross
  --param NAME=VALUE     any other strategy parameter; repeat the option for several
  --url URL              server origin (default: ${DEFAULT_URL})
  --cash AMOUNT          starting cash (default: ${DEFAULT_CASH})
  --commission RATE      commission per trade as a fraction of the traded value (default: ${DEFAULT_COMMISSION})
  --fractional           allow orders for fractions of a unit (default for datasets whose id starts with ${FRACTIONAL_DATASET_PREFIX})
  --no-fractional        trade whole units only (default for other datasets)
  --bars-per-second N    replay pace in bars per second (default: as fast as the server can run)
  --transports LIST      socket.io transports, comma-separated: websocket, polling (default: the server's list from
                         GET /api/client-config; a server without that route gets polling, then upgrade to websocket)
  --json                 print the whole result as JSON instead of the statistics table
  -h, --help             print this help

Exit codes: 0 completed, 1 failed or cancelled, 2 usage error, 3 server unreachable, 130 interrupted.
Ctrl-C cancels the backtest on the server before the command exits.
`;

/** A command line that cannot be run. The message names the option and the expected value. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface BacktestCommand {
  url: string;
  request: BacktestRequest;
  /** Undefined uses the list of the server's `GET /api/client-config`. */
  transports: TransportName[] | undefined;
  json: boolean;
}

export type ParsedCommandLine = { kind: "help" } | { kind: "run"; command: BacktestCommand };

/** Parses the CLI arguments (without node and the script path). Throws UsageError on an invalid command line. */
export function parseCommandLine(args: string[]): ParsedCommandLine {
  const { values } = parseOptions(args);
  if (values.help) {
    return { kind: "help" };
  }

  const dataset = requireOption(values.dataset, "--dataset", "a dataset id such as btcusdt-1h");
  const strategy = requireOption(values.strategy, "--strategy", "a strategy id such as sma-cross");
  if (values.fractional && values["no-fractional"]) {
    throw new UsageError("--fractional and --no-fractional cannot be used together");
  }

  const request: BacktestRequest = {
    dataset,
    strategy,
    params: parseStrategyParams(values),
    cash: parseNumber(values.cash, "--cash", DEFAULT_CASH, (cash) => cash > 0, "a positive number"),
    commission: parseNumber(
      values.commission,
      "--commission",
      DEFAULT_COMMISSION,
      (rate) => rate >= 0 && rate < 1,
      "a fraction from 0 up to 1, e.g. 0.001 for 0.1%",
    ),
    fractional: values["no-fractional"]
      ? false
      : (values.fractional ?? dataset.toLowerCase().startsWith(FRACTIONAL_DATASET_PREFIX)),
  };
  if (values["bars-per-second"] !== undefined) {
    request.barsPerSecond = parseNumber(
      values["bars-per-second"],
      "--bars-per-second",
      0,
      (rate) => rate > 0,
      "a positive number of bars per second",
    );
  }

  return {
    kind: "run",
    command: {
      url: values.url ?? DEFAULT_URL,
      request,
      transports: parseTransports(values.transports),
      json: values.json ?? false,
    },
  };
}

function parseOptions(args: string[]) {
  try {
    return parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        dataset: { type: "string" },
        strategy: { type: "string" },
        fast: { type: "string" },
        slow: { type: "string" },
        param: { type: "string", multiple: true },
        url: { type: "string" },
        cash: { type: "string" },
        commission: { type: "string" },
        fractional: { type: "boolean" },
        "no-fractional": { type: "boolean" },
        "bars-per-second": { type: "string" },
        transports: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    // parseArgs throws TypeError with an ERR_PARSE_ARGS_* code and a message that names the argument.
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

function requireOption(value: string | undefined, name: string, expected: string): string {
  if (value === undefined || value.trim() === "") {
    throw new UsageError(`missing ${name}: expected ${expected}`);
  }
  return value;
}

function parseNumber(
  text: string | undefined,
  name: string,
  fallback: number,
  isValid: (value: number) => boolean,
  expected: string,
): number {
  if (text === undefined) {
    return fallback;
  }

  const value = text.trim() === "" ? Number.NaN : Number(text);
  if (!Number.isFinite(value) || !isValid(value)) {
    throw new UsageError(`invalid ${name} ${JSON.stringify(text)}: expected ${expected}`);
  }
  return value;
}

/** Merges `--fast`, `--slow` and every `--param NAME=VALUE` into one map, rejecting a parameter given twice. */
function parseStrategyParams(values: {
  fast?: string;
  slow?: string;
  param?: string[];
}): Record<string, StrategyParamValue> {
  const params: Record<string, StrategyParamValue> = {};
  const sources: Record<string, string> = {};

  function add(name: string, value: StrategyParamValue, source: string): void {
    const earlier = sources[name];
    if (earlier !== undefined) {
      throw new UsageError(`strategy parameter ${name} is given twice, by ${earlier} and by ${source}`);
    }
    params[name] = value;
    sources[name] = source;
  }

  if (values.fast !== undefined) {
    add(
      "fast",
      parseNumber(values.fast, "--fast", 0, () => true, "a number"),
      "--fast",
    );
  }
  if (values.slow !== undefined) {
    add(
      "slow",
      parseNumber(values.slow, "--slow", 0, () => true, "a number"),
      "--slow",
    );
  }
  for (const assignment of values.param ?? []) {
    const separator = assignment.indexOf("=");
    const name = separator === -1 ? "" : assignment.slice(0, separator).trim();
    if (name === "") {
      throw new UsageError(`invalid --param ${JSON.stringify(assignment)}: expected NAME=VALUE, e.g. --param fast=10`);
    }
    add(name, parseParamValue(assignment.slice(separator + 1)), `--param ${assignment}`);
  }
  return params;
}

/** Reads a `--param` value as a number or a boolean when it spells one, and as a string otherwise. */
function parseParamValue(text: string): StrategyParamValue {
  const trimmed = text.trim();
  if (trimmed === "true" || trimmed === "false") {
    return trimmed === "true";
  }

  const number = trimmed === "" ? Number.NaN : Number(trimmed);
  return Number.isFinite(number) ? number : text;
}

function parseTransports(text: string | undefined): TransportName[] | undefined {
  if (text === undefined) {
    return undefined;
  }

  const names = text.split(",").map((name) => name.trim());
  const transports: TransportName[] = [];
  for (const name of names) {
    const transport = TRANSPORT_NAMES.find((known) => known === name);
    if (transport === undefined) {
      throw new UsageError(
        `invalid --transports ${JSON.stringify(text)}: expected websocket, polling or both, comma-separated`,
      );
    }
    if (!transports.includes(transport)) {
      transports.push(transport);
    }
  }
  return transports;
}
