import {
  type RedisConnection,
  type RedisHost,
  RedisConnectionSyntaxError,
  parseRedisHost,
  parseWholeNumber,
} from "./redis-connection";

const OPTION_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;

// Options whose values are masked.
const SECRET_NAME = /pass|secret|token|key/i;

// Host text after the "@" of a URL written without its scheme, kept visible in a masked string.
const HOST_TEXT = /^[A-Za-z0-9._:[\]-]+$/;

/** The options of a StackExchange.Redis string that are read, before they are set on the connection. */
type ParsedOptions = Omit<RedisConnection, "hosts" | "warnings">;

interface OptionHandler {
  /** The option's name as StackExchange.Redis documents it, for messages. */
  name: string;
  apply(options: ParsedOptions, value: string): void;
}

/** Handlers keyed by lower-case option name, because StackExchange.Redis ignores the case of names. */
const OPTION_HANDLERS: ReadonlyMap<string, OptionHandler> = new Map(
  [
    {
      name: "password",
      apply(options: ParsedOptions, value: string) {
        setOrDelete(options, "password", value);
      },
    },
    {
      name: "user",
      apply(options: ParsedOptions, value: string) {
        setOrDelete(options, "username", value);
      },
    },
    {
      name: "ssl",
      apply(options: ParsedOptions, value: string) {
        options.tls = parseBoolean("ssl", value);
      },
    },
    {
      name: "sslHost",
      apply(options: ParsedOptions, value: string) {
        setOrDelete(options, "tlsServername", value);
      },
    },
    {
      name: "abortConnect",
      apply(options: ParsedOptions, value: string) {
        options.abortConnect = parseBoolean("abortConnect", value);
      },
    },
    {
      name: "connectTimeout",
      apply(options: ParsedOptions, value: string) {
        const timeoutMs = parseWholeNumber(value);
        if (timeoutMs === undefined || timeoutMs === 0) {
          throw new RedisConnectionSyntaxError(
            `connectTimeout "${value}" must be a whole number of milliseconds greater than 0`,
          );
        }
        options.connectTimeoutMs = timeoutMs;
      },
    },
    {
      name: "defaultDatabase",
      apply(options: ParsedOptions, value: string) {
        const db = parseWholeNumber(value);
        if (db === undefined) {
          throw new RedisConnectionSyntaxError(`defaultDatabase "${value}" must be a whole number, such as 0`);
        }
        options.db = db;
      },
    },
    // Command timeouts of the .NET client. Ours are set per role by the client factories in
    // src/redis, so these are ignored without a warning: a string shared with .NET services
    // carries them legitimately.
    { name: "syncTimeout", apply() {} },
    { name: "asyncTimeout", apply() {} },
  ].map((handler): [string, OptionHandler] => [handler.name.toLowerCase(), handler]),
);

/**
 * Parses the StackExchange.Redis form used by .NET services:
 * `host[:port][,host2[:port2]...][,name=value...]`.
 *
 * Items are separated by commas and trimmed, and an item with "=" is an option. Option names are
 * case-insensitive. An option value is literal up to the next comma, so a password may contain
 * `@ : / = + % #` but no comma (a password with a comma needs the URL form, with "," as %2C).
 * Options not listed in OPTION_HANDLERS are ignored with a warning that names them.
 */
export function parseStackExchangeConnectionString(value: string): RedisConnection {
  const hosts: RedisHost[] = [];
  const warnings: string[] = [];
  const options: ParsedOptions = { tls: false, db: 0 };

  for (const item of value.split(",").map((part) => part.trim())) {
    if (item === "") {
      continue;
    }

    const equals = item.indexOf("=");
    if (equals === -1) {
      hosts.push(parseEndpoint(item));
      continue;
    }

    const name = item.slice(0, equals).trim();
    if (name === "") {
      throw new RedisConnectionSyntaxError('an option has no name before "="');
    }
    if (!OPTION_NAME.test(name)) {
      // Neither item form: the text may hold a password, so the reason does not quote it.
      throw new RedisConnectionSyntaxError(
        "an item is neither a host nor a name=value option; a URL needs its redis:// or rediss:// scheme",
      );
    }
    const handler = OPTION_HANDLERS.get(name.toLowerCase());
    if (handler === undefined) {
      warnings.push(`ignored unknown option "${name}"`);
      continue;
    }
    handler.apply(options, item.slice(equals + 1).trim());
  }

  if (hosts.length === 0) {
    throw new RedisConnectionSyntaxError("no host is given");
  }
  return { hosts, warnings, ...options };
}

/**
 * Masks the value of `password` and of any option whose name looks secret, anything before an
 * "@" in a host item (a URL written without its scheme), and any item that is neither a host nor
 * an option. Works on invalid strings too.
 *
 * NOTE: a password that contains a comma is cut there, so its rest reads as a host and is not
 * masked. Such passwords are not supported in this form anyway.
 */
export function maskStackExchangeConnectionString(value: string): string {
  return value.split(",").map(maskItem).join(",");
}

function maskItem(item: string): string {
  const equals = item.indexOf("=");
  const name = equals === -1 ? undefined : item.slice(0, equals).trim();
  if (name !== undefined && OPTION_NAME.test(name)) {
    return SECRET_NAME.test(name) ? `${item.slice(0, equals + 1)}****` : item;
  }
  if (name === undefined && !item.includes("@")) {
    return item;
  }

  // A malformed item, or a URL without its scheme: keep only a host after the last "@".
  const afterAt = item.slice(item.lastIndexOf("@") + 1);
  return item.includes("@") && HOST_TEXT.test(afterAt.trim()) ? `****@${afterAt}` : "****";
}

function parseEndpoint(item: string): RedisHost {
  // The part before "@" may be a password, so the reason does not quote the item.
  if (item.includes("@")) {
    throw new RedisConnectionSyntaxError(
      'a host contains "@", as in a URL without its scheme; write redis://user:password@host:port',
    );
  }
  return parseRedisHost(item);
}

function parseBoolean(name: string, value: string): boolean {
  const lower = value.toLowerCase();
  if (lower !== "true" && lower !== "false") {
    throw new RedisConnectionSyntaxError(`${name} "${value}" must be true or false`);
  }
  return lower === "true";
}

/** Sets a string option, or removes it when the value is empty, so the last occurrence wins. */
function setOrDelete(options: ParsedOptions, key: "password" | "username" | "tlsServername", value: string): void {
  if (value === "") {
    delete options[key];
  } else {
    options[key] = value;
  }
}
