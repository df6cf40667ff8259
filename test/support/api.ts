import type { BacktestSnapshot, BacktestState } from "../../src/hubs/backtest-events";

/** A backtest request that completes in well under a second at full speed. */
export const GOOG_BACKTEST = { dataset: "goog-daily", strategy: "sma-cross", params: { fast: 10, slow: 30 } } as const;

export interface ApiReply {
  status: number;
  /** The parsed JSON body, or the raw text when the body is not JSON. */
  body: unknown;
  /** The `X-Backplane-Worker` header, or null when it is missing. */
  worker: string | null;
  /** Time from sending the request to reading the whole body, in milliseconds. */
  elapsedMs: number;
}

export interface ApiRequestOptions {
  /** A value sent as a JSON body with `Content-Type: application/json`. */
  json?: unknown;
  /** A body sent as is, for malformed input; `contentType` defaults to application/json. */
  rawBody?: string;
  contentType?: string;
  /** Abort the request after this many milliseconds. Default 10000. */
  timeoutMs?: number;
}

/** Sends one HTTP request to a Backplane instance and reads the whole reply. */
export async function callApi(
  baseUrl: string,
  method: string,
  path: string,
  options: ApiRequestOptions = {},
): Promise<ApiReply> {
  const headers: Record<string, string> = {};
  let body: string | undefined;
  if (options.json !== undefined) body = JSON.stringify(options.json);
  if (options.rawBody !== undefined) body = options.rawBody;
  if (body !== undefined) headers["content-type"] = options.contentType ?? "application/json";

  const startedAt = Date.now();
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers,
    body,
    signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
  });
  const text = await response.text();
  const elapsedMs = Date.now() - startedAt;

  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: the raw text is returned, and the test's assertion on the shape fails.
  }
  return { status: response.status, body: parsed, worker: response.headers.get("x-backplane-worker"), elapsedMs };
}

/**
 * Polls `GET /api/backtests/:id` until the backtest reaches one of `states`, and returns that
 * snapshot. Replies other than 200 (such as a 503 while Redis reconnects) count as "not yet".
 */
export async function waitForBacktest(
  baseUrl: string,
  id: string,
  states: readonly BacktestState[],
  timeoutMs: number,
): Promise<BacktestSnapshot> {
  let last: ApiReply | undefined;
  const found = await pollUntil(
    async () => {
      last = await callApi(baseUrl, "GET", `/api/backtests/${id}`);
      const snapshot = last.body as BacktestSnapshot;
      return last.status === 200 && states.includes(snapshot.state) ? snapshot : undefined;
    },
    { timeoutMs, what: () => `backtest ${id} in state ${states.join(" or ")} (last reply: ${JSON.stringify(last)})` },
  );
  return found;
}

export interface PollOptions {
  timeoutMs: number;
  /** Pause between two probes, in milliseconds. Default 100. */
  intervalMs?: number;
  /** What is awaited, for the timeout error; a function is called when the wait times out. */
  what: string | (() => string);
}

/**
 * Calls `probe` until it returns a value other than undefined, and returns that value. Throws
 * when `timeoutMs` passes first; a probe that throws ends the wait with its error.
 */
export async function pollUntil<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  options: PollOptions,
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) {
      const what = typeof options.what === "function" ? options.what() : options.what;
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
}
