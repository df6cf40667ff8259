import type { BacktestStats } from "../hubs/backtest-events";

const GROUPED_INTEGER = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const GROUPED_DECIMAL = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const SMALL_DECIMAL = new Intl.NumberFormat("en-US", { minimumSignificantDigits: 2, maximumSignificantDigits: 4 });

/**
 * Formats the statistics as two aligned columns, names left-aligned and values right-aligned, in the order the
 * server sent them. Ends with a newline.
 */
export function formatStatsTable(stats: BacktestStats): string {
  const rows = Object.entries(stats).map(([name, value]) => [name, formatStatValue(value)] as const);
  const nameWidth = Math.max(0, ...rows.map(([name]) => name.length));
  const valueWidth = Math.max(0, ...rows.map(([, value]) => value.length));

  return rows.map(([name, value]) => `${name.padEnd(nameWidth)}  ${value.padStart(valueWidth)}\n`).join("");
}

/**
 * Formats one statistic: integers with thousands separators, other numbers of magnitude 1 or more with two
 * decimals, smaller ones with up to four significant digits, and null as "n/a".
 */
export function formatStatValue(value: number | string | null): string {
  if (value === null) {
    return "n/a";
  }
  if (typeof value === "string") {
    return value;
  }
  if (!Number.isFinite(value)) {
    return String(value);
  }

  if (Number.isInteger(value)) {
    return GROUPED_INTEGER.format(value);
  }
  return Math.abs(value) >= 1 ? GROUPED_DECIMAL.format(value) : SMALL_DECIMAL.format(value);
}
