/** Messages between the sweep benchmark and its worker threads. */

export type SweepMode = "with-checks" | "bare";

export interface SweepWorkerData {
  datasetFile: string;
  strategy: string;
  broker: Record<string, unknown>;
}

export type ToSweepWorker =
  { type: "run"; round: number; mode: SweepMode; combinations: Record<string, number>[] } | { type: "exit" };

export type FromSweepWorker =
  | { type: "ready"; parseMs: number; bars: number }
  | { type: "progress"; round: number; evaluated: number; total: number }
  | { type: "done"; round: number; wallMs: number; cpuMs: number; evaluated: number; bestReturnPct: number | null };
