/**
 * Number and timestamp parsing straight from the bytes of a CSV field. The candle loader calls
 * these once per field, so they avoid building strings and regular expressions on the common
 * shapes and fall back to the standard parsers only for the rare ones.
 */

const CHAR_0 = 0x30;
const CHAR_9 = 0x39;
const CHAR_PLUS = 0x2b;
const CHAR_MINUS = 0x2d;
const CHAR_DOT = 0x2e;
const CHAR_COLON = 0x3a;
const CHAR_SPACE = 0x20;
const CHAR_T = 0x54;
const CHAR_Z = 0x5a;
const CHAR_LOWER_E = 0x65;
const CHAR_UPPER_E = 0x45;

/** Exact powers of ten: every 10^k up to 10^22 is a double without rounding. */
const POWERS_OF_TEN: readonly number[] = Array.from({ length: 23 }, (_, k) => 10 ** k);

/** Epoch values below this are seconds, the rest milliseconds (1e11 s is the year 5138, 1e11 ms is 1973-03-03). */
export const EPOCH_SECONDS_LIMIT = 1e11;

const latin1 = new TextDecoder("latin1");

/** Decodes bytes[start, end) as text, for error messages and the slow paths. */
export function fieldText(bytes: Uint8Array, start: number, end: number): string {
  return latin1.decode(bytes.subarray(start, end));
}

function isDigit(byte: number | undefined): boolean {
  return byte !== undefined && byte >= CHAR_0 && byte <= CHAR_9;
}

/**
 * Parses a decimal number in bytes[start, end). Returns NaN when the field is empty or not a
 * number. Plain decimals of at most 15 significant digits are computed as integer ÷ 10^k, which
 * IEEE division rounds correctly, so the result equals `Number(text)`. Other shapes (exponents,
 * longer mantissas) go through `Number` itself.
 */
export function parseDecimal(bytes: Uint8Array, start: number, end: number): number {
  if (start >= end) return NaN;

  let i = start;
  let negative = false;
  if (bytes[i] === CHAR_MINUS || bytes[i] === CHAR_PLUS) {
    negative = bytes[i] === CHAR_MINUS;
    i++;
  }

  let mantissa = 0;
  let digits = 0;
  let fractionDigits = 0;
  let seenDot = false;
  let seenDigit = false;
  for (; i < end; i++) {
    const byte = bytes[i] as number;
    if (byte >= CHAR_0 && byte <= CHAR_9) {
      seenDigit = true;
      // Leading zeros add no precision, so they do not count toward the 15-digit budget.
      if (mantissa !== 0 || byte !== CHAR_0) digits++;
      mantissa = mantissa * 10 + (byte - CHAR_0);
      if (seenDot) fractionDigits++;
    } else if (byte === CHAR_DOT && !seenDot) {
      seenDot = true;
    } else if (byte === CHAR_LOWER_E || byte === CHAR_UPPER_E) {
      return parseDecimalSlow(bytes, start, end);
    } else {
      return NaN;
    }
  }
  if (!seenDigit) return NaN;
  if (digits > 15 || fractionDigits > 22) return parseDecimalSlow(bytes, start, end);

  const value = fractionDigits === 0 ? mantissa : mantissa / (POWERS_OF_TEN[fractionDigits] as number);
  return negative ? -value : value;
}

function parseDecimalSlow(bytes: Uint8Array, start: number, end: number): number {
  const text = fieldText(bytes, start, end);
  // Number("") is 0 and Number("0x10") is 16, neither of which is a CSV decimal.
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return NaN;
  return Number(text);
}

/** Reads `count` digits at bytes[at] as an unsigned integer, or -1 if any byte is not a digit. */
function readDigits(bytes: Uint8Array, at: number, count: number): number {
  let value = 0;
  for (let k = 0; k < count; k++) {
    const byte = bytes[at + k];
    if (!isDigit(byte)) return -1;
    value = value * 10 + ((byte as number) - CHAR_0);
  }
  return value;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) {
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    return leap ? 29 : 28;
  }
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * Parses a candle timestamp in bytes[start, end) to epoch milliseconds (UTC), or NaN when the
 * field is not one of the accepted forms:
 * - `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS[.fff]]` or the same with `T`, optionally ending in `Z`,
 *   all read as UTC;
 * - ISO 8601 text with an explicit offset such as `2024-01-01T02:00:00+02:00`;
 * - epoch seconds or milliseconds, distinguished by magnitude (see `EPOCH_SECONDS_LIMIT`).
 */
export function parseTimestamp(bytes: Uint8Array, start: number, end: number): number {
  const length = end - start;
  if (length <= 0) return NaN;

  if (isDigit(bytes[start]) && (length < 5 || bytes[start + 4] !== CHAR_MINUS)) {
    const epoch = parseDecimal(bytes, start, end);
    if (!Number.isFinite(epoch) || epoch < 0) return NaN;
    return epoch < EPOCH_SECONDS_LIMIT ? epoch * 1000 : epoch;
  }
  if (length < 10 || bytes[start + 4] !== CHAR_MINUS || bytes[start + 7] !== CHAR_MINUS) return NaN;

  const year = readDigits(bytes, start, 4);
  const month = readDigits(bytes, start + 5, 2);
  const day = readDigits(bytes, start + 8, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return NaN;
  if (length === 10) return Date.UTC(year, month - 1, day);

  return parseTimeOfDay(bytes, start, end, year, month, day);
}

function parseTimeOfDay(
  bytes: Uint8Array,
  start: number,
  end: number,
  year: number,
  month: number,
  day: number,
): number {
  const separator = bytes[start + 10];
  if ((separator !== CHAR_SPACE && separator !== CHAR_T) || end - start < 16) return NaN;
  if (bytes[start + 13] !== CHAR_COLON) return NaN;

  const hour = readDigits(bytes, start + 11, 2);
  const minute = readDigits(bytes, start + 14, 2);
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59) return NaN;

  let i = start + 16;
  let second = 0;
  let millisecond = 0;
  if (i < end && bytes[i] === CHAR_COLON) {
    if (i + 3 > end) return NaN;
    second = readDigits(bytes, i + 1, 2);
    if (second < 0 || second > 59) return NaN;
    i += 3;
    if (i < end && bytes[i] === CHAR_DOT) {
      // Keep milliseconds and drop finer digits, because the candle times are whole milliseconds.
      i++;
      let scale = 100;
      const fractionStart = i;
      for (; i < end && isDigit(bytes[i]); i++) {
        millisecond += ((bytes[i] as number) - CHAR_0) * scale;
        scale /= 10;
      }
      if (i === fractionStart) return NaN;
      millisecond = Math.floor(millisecond);
    }
  }

  const utc = Date.UTC(year, month - 1, day, hour, minute, second, millisecond);
  if (i === end) return utc;
  if (i === end - 1 && bytes[i] === CHAR_Z) return utc;
  if (bytes[i] === CHAR_PLUS || bytes[i] === CHAR_MINUS) {
    // An explicit offset is rare in candle files: let the standard parser apply it.
    const parsed = Date.parse(fieldText(bytes, start, end).replace(" ", "T"));
    return Number.isNaN(parsed) ? NaN : parsed;
  }
  return NaN;
}
