import type { ErrorBody, ErrorCode } from "../hubs/backtest-events";

const STATUS_BY_CODE: Record<ErrorCode, number> = {
  validation_failed: 400,
  not_found: 404,
  conflict: 409,
  unavailable: 503,
  internal: 500,
};

/**
 * An error that reaches clients as `{ error: { code, message, field? } }`, on REST with the
 * status of its code and in socket acks as is. Anything else that escapes a handler is logged in
 * full and shown to clients as `internal` without its details.
 */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;

  constructor(code: ErrorCode, message: string, field?: string) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.field = field;
  }

  get status(): number {
    return STATUS_BY_CODE[this.code];
  }

  toBody(): ErrorBody {
    return this.field === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, field: this.field };
  }
}

export function validationFailed(message: string, field?: string): ApiError {
  return new ApiError("validation_failed", message, field);
}

export function backtestNotFound(id: string): ApiError {
  return new ApiError(
    "not_found",
    `backtest "${id}" was not found. It may never have existed or its result expired (RESULT_TTL_S).`,
  );
}

export function unavailable(message: string): ApiError {
  return new ApiError("unavailable", message);
}

export const INTERNAL_ERROR_BODY: ErrorBody = {
  code: "internal",
  message: "internal server error; the server log has the details",
};
