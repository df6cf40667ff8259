import { type RedisConnection, RedisConnectionSyntaxError, parseRedisHost, parseWholeNumber } from "./redis-connection";

/** `scheme://` at the start of a connection string; group 1 is the scheme. */
export const URL_SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;

// Query options whose values are masked.
const SECRET_NAME = /pass|secret|token|key/i;

/**
 * Parses `redis://[user[:password]@]host[:port][,host2[:port2]...][/db][?query]`, or `rediss://`
 * for TLS. User and password are percent-decoded. The user information ends at the last "@", so a
 * password with an unencoded "/", "?" or "#" is still read whole, but no "@" may follow the host.
 * Query options are ignored with a warning.
 */
export function parseRedisUrl(value: string): RedisConnection {
  const scheme = URL_SCHEME.exec(value)?.[1]?.toLowerCase();
  if (scheme !== "redis" && scheme !== "rediss") {
    throw new RedisConnectionSyntaxError(`scheme "${scheme ?? ""}" is not supported`);
  }

  // Split user information, address list, path and query.
  const { userinfo, address } = splitUserinfo(value.slice(scheme.length + 3));
  const addressEnd = address.search(/[/?#]/);
  const hostList = addressEnd === -1 ? address : address.slice(0, addressEnd);
  const tail = addressEnd === -1 ? "" : address.slice(addressEnd);
  const queryStart = tail.indexOf("?");
  const path = queryStart === -1 ? tail : tail.slice(0, queryStart);
  const query = queryStart === -1 ? "" : tail.slice(queryStart + 1);

  const connection: RedisConnection = {
    hosts: hostList.split(",").map(parseRedisHost),
    tls: scheme === "rediss",
    db: parseDatabasePath(path),
    warnings: [],
  };

  if (userinfo !== undefined) {
    applyUserinfo(connection, userinfo);
  }
  for (const name of new URLSearchParams(query).keys()) {
    connection.warnings.push(`ignored URL query option "${name}"`);
  }

  return connection;
}

/**
 * Masks the password of a URL (`redis://user:****@host`), or a lone user name (`****@host`), and
 * the values of query options whose names look secret. Works on invalid URLs too.
 */
export function maskRedisUrl(value: string): string {
  const scheme = URL_SCHEME.exec(value)?.[0] ?? "";
  const { userinfo, address } = splitUserinfo(value.slice(scheme.length));

  let maskedUserinfo = "";
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(":");
    maskedUserinfo = colon === -1 ? "****@" : `${userinfo.slice(0, colon)}:****@`;
  }

  const queryStart = address.indexOf("?");
  if (queryStart === -1) {
    return `${scheme}${maskedUserinfo}${address}`;
  }
  const query = address
    .slice(queryStart + 1)
    .split("&")
    .map((pair) => {
      const equals = pair.indexOf("=");
      return equals !== -1 && SECRET_NAME.test(pair.slice(0, equals)) ? `${pair.slice(0, equals)}=****` : pair;
    })
    .join("&");
  return `${scheme}${maskedUserinfo}${address.slice(0, queryStart)}?${query}`;
}

function splitUserinfo(afterScheme: string): { userinfo: string | undefined; address: string } {
  const at = afterScheme.lastIndexOf("@");
  if (at === -1) {
    return { userinfo: undefined, address: afterScheme };
  }
  return { userinfo: afterScheme.slice(0, at), address: afterScheme.slice(at + 1) };
}

function applyUserinfo(connection: RedisConnection, userinfo: string): void {
  const colon = userinfo.indexOf(":");
  const username = decodeUserinfoPart(colon === -1 ? userinfo : userinfo.slice(0, colon));
  const password = colon === -1 ? "" : decodeUserinfoPart(userinfo.slice(colon + 1));

  if (username !== "") {
    connection.username = username;
  }
  if (password !== "") {
    connection.password = password;
  }
  if (colon === -1 && username !== "") {
    connection.warnings.push(
      "the URL has a user name but no password; a password alone is written redis://:PASSWORD@host",
    );
  }
}

function decodeUserinfoPart(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    // The text may be the password, so the reason does not quote it.
    throw new RedisConnectionSyntaxError(
      'the user name or password is not valid percent-encoding; write "%" as %25, "@" as %40, ":" as %3A',
    );
  }
}

function parseDatabasePath(path: string): number {
  if (path === "" || path === "/") {
    return 0;
  }
  if (path.includes("#")) {
    throw new RedisConnectionSyntaxError(`fragment "${path.slice(path.indexOf("#"))}" is not allowed`);
  }

  const db = parseWholeNumber(path.slice(1));
  if (db === undefined) {
    throw new RedisConnectionSyntaxError(`database "${path.slice(1)}" in the path must be a whole number, as in /0`);
  }
  return db;
}
