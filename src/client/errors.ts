import type { ErrorBody, ErrorCode } from "../hubs/backtest-events";

/** HTTP status of each catalogue code, used for errors that arrive in a socket acknowledgement. */
const STATUS_BY_CODE: Record<ErrorCode, number> = {
  validation_failed: 400,
  not_found: 404,
  conflict: 409,
  unavailable: 503,
  internal: 500,
};

/**
 * An error reply from Backplane, over REST or in a subscribe acknowledgement.
 * `status` is the HTTP status, or for an acknowledgement the status that the REST route gives the same code.
 */
export class BacktestApiError extends Error {
  override readonly name = "BacktestApiError";
  readonly status: number;
  readonly code: ErrorCode;
  /** The request field at fault, for `validation_failed`. */
  readonly field: string | undefined;

  constructor(status: number, body: ErrorBody) {
    super(body.message);
    this.status = status;
    this.code = body.code;
    this.field = body.field;
  }

  /** Builds the error for a catalogue body that came without an HTTP status. */
  static fromErrorBody(body: ErrorBody): BacktestApiError {
    return new BacktestApiError(STATUS_BY_CODE[body.code], body);
  }
}

/** Maps an HTTP status without a catalogue body (a proxy page, an older server) to the nearest catalogue code. */
export function errorCodeForStatus(status: number): ErrorCode {
  const match = Object.entries(STATUS_BY_CODE).find(([, codeStatus]) => codeStatus === status);
  return match === undefined ? "internal" : (match[0] as ErrorCode);
}

/**
 * A failure to reach Backplane: the connection was refused or reset, a request timed out, or the server closed the
 * socket.io connection for good. `url` is the server origin that was tried.
 */
export class BacktestConnectionError extends Error {
  override readonly name = "BacktestConnectionError";
  readonly url: string;

  constructor(url: string, reason: string, options?: { cause?: unknown }) {
    super(`cannot reach Backplane at ${url}: ${reason}`, options);
    this.url = url;
  }
}

/** A response or event from the server that does not match the hub contract. */
export class BacktestProtocolError extends Error {
  override readonly name = "BacktestProtocolError";
}

/** Rejects `Follow.done` when the follow was stopped (unsubscribe or client close) before a terminal state. */
export class FollowStoppedError extends Error {
  override readonly name = "FollowStoppedError";
}

/** Returns the message of a thrown value, including the messages inside an AggregateError. */
export function describeError(error: unknown): string {
  if (error instanceof AggregateError && error.message === "") {
    return error.errors.map(describeError).join("; ");
  }
  if (error instanceof Error) {
    return error.message;
  }
  return String(error);
}

export function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(describeError(value));
}
