import type { Response } from "express";

import type { FullEquityCurve } from "../engine/result";

/** Numbers formatted per write, so a curve of many bars goes out in slices, not one large string. */
const NUMBERS_PER_WRITE = 10_000;

/**
 * Writes a full equity curve as `{ id, points, time, equity, drawdownPct }` JSON, slice by slice,
 * waiting for the socket to drain between slices. Serializing hundreds of thousands of bars at
 * once would hold the web worker's event loop and buffer the whole body in memory. Stops early
 * when the client goes away.
 */
export async function sendEquityCurve(res: Response, id: string, curve: FullEquityCurve): Promise<void> {
  res.status(200).type("application/json");

  if (!(await write(res, `{"id":${JSON.stringify(id)},"points":${curve.equity.length}`))) return;
  const series = [
    ["time", curve.time],
    ["equity", curve.equity],
    ["drawdownPct", curve.drawdownPct],
  ] as const;
  for (const [name, values] of series) {
    if (!(await write(res, `,"${name}":[`))) return;
    for (let from = 0; from < values.length; from += NUMBERS_PER_WRITE) {
      const separator = from === 0 ? "" : ",";
      if (!(await write(res, separator + formatNumbers(values, from, from + NUMBERS_PER_WRITE)))) return;
    }
    if (!(await write(res, "]"))) return;
  }
  res.end("}");
}

/** Formats numbers as JSON.stringify does: non-finite values become null. */
function formatNumbers(values: Float64Array, from: number, to: number): string {
  const end = Math.min(to, values.length);
  const parts: string[] = [];
  for (let i = from; i < end; i++) {
    const value = values[i] as number;
    parts.push(Number.isFinite(value) ? String(value) : "null");
  }
  return parts.join(",");
}

/** Writes one slice and waits for the socket to drain; returns false once the response is closed. */
async function write(res: Response, text: string): Promise<boolean> {
  if (res.destroyed) return false;
  if (!res.write(text)) {
    await new Promise<void>((resolve) => {
      const done = () => {
        res.off("drain", done);
        res.off("close", done);
        resolve();
      };
      res.on("drain", done);
      res.on("close", done);
    });
  }
  return !res.destroyed;
}
