import {
  BacktestApiError,
  BacktestConnectionError,
  BacktestProtocolError,
  describeError,
  errorCodeForStatus,
} from "./errors";
import { errorReplySchema } from "./payloads";

/** Maximum length of a non-JSON error body quoted in an error message. */
const MAX_QUOTED_BODY_CHARS = 200;

export interface RestRequest {
  method: "GET" | "POST" | "DELETE";
  /** Path below the server origin, e.g. `/api/backtests`. */
  path: string;
  /** JSON request body, if any. */
  body?: unknown;
}

/**
 * Sends one JSON request to Backplane and returns the parsed JSON body of a 2xx response.
 * Throws BacktestConnectionError when the server cannot be reached or does not respond within `timeoutMs`,
 * BacktestApiError for any other status, and BacktestProtocolError for a 2xx body that is not JSON.
 */
export async function requestJson(origin: string, request: RestRequest, timeoutMs: number): Promise<unknown> {
  const url = new URL(request.path, origin);
  const init: RequestInit = {
    method: request.method,
    headers: { accept: "application/json" },
    signal: AbortSignal.timeout(timeoutMs),
  };
  if (request.body !== undefined) {
    init.headers = { ...init.headers, "content-type": "application/json" };
    init.body = JSON.stringify(request.body);
  }

  // The timeout signal also covers reading the body, so both steps map a timeout to the same error.
  let status: number;
  let text: string;
  try {
    const response = await fetch(url, init);
    status = response.status;
    text = await response.text();
  } catch (error) {
    throw connectionError(origin, error, timeoutMs);
  }

  if (status >= 200 && status < 300) {
    return parseJson(text, `${request.method} ${url.pathname} returned ${status} with a body that is not JSON`);
  }
  throw apiError(request, url, status, text);
}

function connectionError(origin: string, error: unknown, timeoutMs: number): BacktestConnectionError {
  if (error instanceof DOMException && error.name === "TimeoutError") {
    return new BacktestConnectionError(origin, `no response within ${timeoutMs} ms`, { cause: error });
  }

  // fetch rejects with TypeError("fetch failed") and puts the socket error (ECONNREFUSED, ENOTFOUND...) in cause.
  const cause = error instanceof Error && error.cause !== undefined ? error.cause : error;
  return new BacktestConnectionError(origin, describeError(cause), { cause: error });
}

function apiError(request: RestRequest, url: URL, status: number, text: string): BacktestApiError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }

  const reply = errorReplySchema.safeParse(body);
  if (reply.success) {
    return new BacktestApiError(status, reply.data.error);
  }

  // Not a catalogue reply: a proxy error page or an older server. Quote the start of the body for diagnosis.
  const quoted = text.length > MAX_QUOTED_BODY_CHARS ? `${text.slice(0, MAX_QUOTED_BODY_CHARS)}…` : text;
  return new BacktestApiError(status, {
    code: errorCodeForStatus(status),
    message: `${request.method} ${url.pathname} returned ${status}: ${quoted.trim() || "(empty body)"}`,
  });
}

function parseJson(text: string, failure: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new BacktestProtocolError(failure);
  }
}
