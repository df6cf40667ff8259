import { io, type ManagerOptions, type SocketOptions } from "socket.io-client";
import { z } from "zod";

import { BACKTEST_NAMESPACE, type BacktestEvent, type BacktestSnapshot } from "../hubs/backtest-events";
import { CLIENT_CONFIG_PATH, clientConfigSchema, type ClientConfig, type TransportName } from "./client-config";
import { BacktestApiError, BacktestConnectionError, FollowStoppedError, describeError, toError } from "./errors";
import { BacktestFollow } from "./follow";
import type { BacktestSocket, Follow, FollowHandlers } from "./follow-types";
import {
  BACKTEST_EVENT_TYPES,
  parseBacktestEvent,
  parsePayload,
  readPayloadId,
  snapshotSchema,
  type BacktestEventType,
} from "./payloads";
import { requestJson } from "./rest";

export { BacktestApiError, BacktestConnectionError, BacktestProtocolError, FollowStoppedError } from "./errors";
export type { Follow, FollowCounters, FollowHandlers, ResyncReason } from "./follow-types";
export type { ClientConfig, TransportName } from "./client-config";

export type StrategyParamValue = number | string | boolean;

/** Body of `POST /api/backtests`. Fields left out take the server's defaults. */
export interface BacktestRequest {
  /** Dataset id, e.g. `btcusdt-1h`. */
  dataset: string;
  /** Strategy id, e.g. `sma-cross`. */
  strategy: string;
  /** Strategy parameters, e.g. `{ fast: 10, slow: 30 }`. */
  params?: Record<string, StrategyParamValue>;
  /** Starting cash. */
  cash?: number;
  /**
   * Fee on every fill, entry and exit: a fraction of the traded value (0.001 for 0.1%), a fixed
   * amount plus such a fraction (`{ fixed: 1, rate: 0.001 }`), or an amount per unit (`{ perUnit: 2 }`).
   * Default 0.
   */
  commission?: number | { fixed?: number; rate?: number } | { perUnit: number };
  /** Bid-ask spread as a fraction: long entries fill that much above the price, short entries below. Default 0. */
  spread?: number;
  /** Fill price of market orders: the next bar's open, or the close of the bar that placed them. Default "next-open". */
  fill?: "next-open" | "close";
  /** Size of orders a strategy places without a size: a fraction of the available margin, or fixed units. Default all of it. */
  sizing?: { type: "equity"; fraction: number } | { type: "fixed"; units: number };
  /** Whether orders may buy fractions of a unit. */
  fractional?: boolean;
  /** "long-only" turns sells into exits that never open a short. Default "long-short". */
  direction?: "long-short" | "long-only";
  /**
   * true closes positions still open after the last bar, at its open (its close with `fill: "close"`), so that they
   * count in the statistics. false leaves them open, with the final equity marked to the last close. Default true.
   */
  closeAtEnd?: boolean;
  /** Accept an order only while no other is pending, as backtrader strategies do. Default false. */
  singlePendingOrder?: boolean;
  /** Replay pace in bars per second. Without it the server runs the backtest as fast as it can. */
  barsPerSecond?: number;
}

export interface BacktestClientOptions {
  /** Origin of the Backplane server, e.g. `http://localhost:3000`. Required. */
  url: string;
  /**
   * socket.io transports in order of preference, or "server" to use the list of the server's
   * `GET /api/client-config`, read before the socket connects. Default: socket.io's, polling first, then upgrade
   * to websocket.
   */
  transports?: TransportName[] | "server";
  /** More socket.io-client options, applied over the client's own. Default: none. */
  socketOptions?: Partial<ManagerOptions & SocketOptions>;
  /** Time in ms a REST request may take, body included, before it fails. Default: 10,000. */
  requestTimeoutMs?: number;
  /** Time in ms to wait for a subscribe acknowledgement before subscribing again. Default: 5,000. */
  ackTimeoutMs?: number;
  /** Delay in ms before a subscribe rejected with `unavailable` is retried. Default: 1,000. */
  subscribeRetryDelayMs?: number;
  /**
   * Maximum consecutive subscribes that time out or get `unavailable` before a follow fails.
   * Default: 60, so that with the 1 s retry delay a follow outlasts a Redis restart of about a minute.
   */
  maxSubscribeRetries?: number;
}

export interface BacktestClient {
  /** The server origin, without a trailing slash. */
  readonly url: string;
  /** The `worker` of the last subscribe acknowledgement of any follow, or undefined before the first one. */
  readonly worker: string | undefined;
  /** Starts a backtest and returns its id. */
  submit(request: BacktestRequest): Promise<string>;
  get(id: string): Promise<BacktestSnapshot>;
  /** Requests cancellation and returns the snapshot at that moment. A finished backtest gives a 409 conflict. */
  cancel(id: string): Promise<BacktestSnapshot>;
  /** Follows one backtest over the `/backtest` hub. The socket connects on the first call. */
  follow(id: string, handlers?: FollowHandlers): Follow;
  /** Stops every follow and disconnects the socket. Calling it again does nothing. */
  close(): void;
}

const DEFAULT_SETTINGS = {
  requestTimeoutMs: 10_000,
  ackTimeoutMs: 5_000,
  subscribeRetryDelayMs: 1_000,
  maxSubscribeRetries: 60,
};

/** Reconnection stays on. socket.io-client 4.8 doubles the delay from 500 ms, with ±50% jitter, up to 5 s. */
const RECONNECTION_OPTIONS: Partial<ManagerOptions> = {
  reconnection: true,
  reconnectionDelay: 500,
  reconnectionDelayMax: 5_000,
};

const submitReplySchema = z.object({ id: z.string().min(1) });

/**
 * Creates a client of one Backplane server. Throws TypeError if `url` is not an http(s) origin.
 * REST calls throw BacktestConnectionError when the server cannot be reached and BacktestApiError for error replies.
 */
export function createBacktestClient(options: BacktestClientOptions): BacktestClient {
  const origin = parseOrigin(options.url);
  const settings = resolveSettings(options);
  const follows = new Map<string, Set<BacktestFollow>>();
  let socket: BacktestSocket | undefined;
  let lastWorker: string | undefined;
  let closed = false;

  function forEachFollow(action: (follow: BacktestFollow) => void): void {
    // Copy first: an action may stop a follow, which removes it from the map.
    const all = [...follows.values()].flatMap((set) => [...set]);
    for (const follow of all) {
      action(follow);
    }
  }

  function removeFollow(follow: BacktestFollow): void {
    const set = follows.get(follow.id);
    if (set === undefined || !set.delete(follow) || set.size > 0) {
      return;
    }

    // The room is left only when no other follow on this socket watches the same job.
    follows.delete(follow.id);
    if (socket?.connected) {
      socket.emit("unsubscribe", { id: follow.id });
    }
  }

  function routeEvent(type: BacktestEventType, payload: unknown): void {
    let event: BacktestEvent;
    try {
      event = parseBacktestEvent(type, payload);
    } catch (thrown) {
      const error = toError(thrown);
      const id = readPayloadId(payload);
      const owners = id === undefined ? undefined : follows.get(id);
      if (owners === undefined) {
        // Without a readable id the event cannot be matched to a follow, so every follow gets a non-fatal error.
        forEachFollow((follow) => follow.reportError(error));
        return;
      }
      for (const follow of [...owners]) {
        follow.fail(error);
      }
      return;
    }

    for (const follow of [...(follows.get(event.id) ?? [])]) {
      follow.handleEvent(event);
    }
  }

  function connectSocket(): BacktestSocket {
    const transportsFromServer = options.transports === "server";
    const created: BacktestSocket = io(`${origin}${BACKTEST_NAMESPACE}`, {
      ...RECONNECTION_OPTIONS,
      // Each client gets its own connection, so that closing one client never disconnects another.
      forceNew: true,
      ...(Array.isArray(options.transports) ? { transports: options.transports } : {}),
      ...options.socketOptions,
      // With "server", the socket connects once the server has named its transports.
      ...(transportsFromServer ? { autoConnect: false } : {}),
    });

    created.on("connect", () => forEachFollow((follow) => follow.handleConnect()));
    created.on("disconnect", (reason) => {
      forEachFollow((follow) => follow.handleDisconnect());
      // socket.io reconnects by itself after a lost transport, but not after the server closed the namespace.
      if (reason === "io server disconnect") {
        const error = new BacktestConnectionError(origin, "the server closed the socket.io connection");
        forEachFollow((follow) => follow.fail(error));
      }
    });
    created.on("connect_error", (cause) => {
      const error = new BacktestConnectionError(origin, describeError(cause), { cause });
      // socket.active is false when a server middleware rejected the connection, and socket.io does not retry then.
      if (created.active) {
        forEachFollow((follow) => follow.reportError(error));
      } else {
        forEachFollow((follow) => follow.fail(error));
      }
    });
    for (const type of BACKTEST_EVENT_TYPES) {
      created.on(type, (payload: unknown) => routeEvent(type, payload));
    }
    if (transportsFromServer) {
      void connectWithServerTransports(created);
    }
    return created;
  }

  /**
   * Reads the server's client config and connects `created` with its transports. When the config cannot be read,
   * every follow fails, because a guessed transport could loop on `Session ID unknown` behind a load balancer
   * without sticky sessions. The next follow then creates a new socket and reads the config again.
   */
  async function connectWithServerTransports(created: BacktestSocket): Promise<void> {
    let config: ClientConfig | undefined;
    try {
      config = await fetchClientConfig(origin, { requestTimeoutMs: settings.requestTimeoutMs });
    } catch (thrown) {
      if (socket === created) {
        socket = undefined;
      }
      created.close();
      const error = toError(thrown);
      forEachFollow((follow) => follow.fail(error));
      return;
    }

    if (closed || socket !== created) {
      return;
    }
    // The manager reads its options when it opens the connection, so this applies to the first connect and to
    // every reconnect.
    if (config !== undefined) {
      created.io.opts.transports = config.transports;
    }
    created.connect();
  }

  async function readSnapshot(method: "GET" | "DELETE", id: string): Promise<BacktestSnapshot> {
    const path = `/api/backtests/${encodeURIComponent(id)}`;
    const body = await requestJson(origin, { method, path }, settings.requestTimeoutMs);
    return parsePayload(snapshotSchema, body, `${method} ${path} response`);
  }

  return {
    url: origin,

    get worker() {
      return lastWorker;
    },

    async submit(request) {
      const body = await requestJson(
        origin,
        { method: "POST", path: "/api/backtests", body: request },
        settings.requestTimeoutMs,
      );
      return parsePayload(submitReplySchema, body, "POST /api/backtests response").id;
    },

    get(id) {
      return readSnapshot("GET", id);
    },

    cancel(id) {
      return readSnapshot("DELETE", id);
    },

    follow(id, handlers = {}) {
      if (closed) {
        throw new FollowStoppedError(`cannot follow backtest ${id}: the client is closed`);
      }

      socket ??= connectSocket();
      const follow = new BacktestFollow(id, socket, handlers, {
        ackTimeoutMs: settings.ackTimeoutMs,
        subscribeRetryDelayMs: settings.subscribeRetryDelayMs,
        maxSubscribeRetries: settings.maxSubscribeRetries,
        onWorker: (worker) => {
          lastWorker = worker;
        },
        onStop: removeFollow,
      });

      const set = follows.get(id) ?? new Set<BacktestFollow>();
      set.add(follow);
      follows.set(id, set);
      follow.start();
      return follow;
    },

    close() {
      if (closed) {
        return;
      }
      closed = true;

      forEachFollow((follow) => follow.unsubscribe());
      socket?.disconnect();
    },
  };
}

/**
 * Reads `GET /api/client-config` of the Backplane server at `url`, an http(s) origin. Resolves to undefined when
 * the server returns 404, as a server older than the route does, so that the caller keeps socket.io's default
 * transports.
 *
 * @throws TypeError if `url` is not an http(s) origin; BacktestConnectionError, BacktestApiError or
 *   BacktestProtocolError as the REST methods of the client do.
 */
export async function fetchClientConfig(
  url: string,
  options: { requestTimeoutMs?: number } = {},
): Promise<ClientConfig | undefined> {
  const origin = parseOrigin(url);
  let body: unknown;
  try {
    body = await requestJson(
      origin,
      { method: "GET", path: CLIENT_CONFIG_PATH },
      options.requestTimeoutMs ?? DEFAULT_SETTINGS.requestTimeoutMs,
    );
  } catch (error) {
    if (error instanceof BacktestApiError && error.status === 404) {
      return undefined;
    }
    throw error;
  }
  return parsePayload(clientConfigSchema, body, `GET ${CLIENT_CONFIG_PATH} response`);
}

/** Returns the origin of an http(s) URL without a path, or throws TypeError naming the value. */
function parseOrigin(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(
      `invalid Backplane URL ${JSON.stringify(url)}: expected an origin such as http://localhost:3000`,
    );
  }

  const hasOnlyOrigin = parsed.pathname === "/" && parsed.search === "" && parsed.hash === "";
  if ((parsed.protocol !== "http:" && parsed.protocol !== "https:") || !hasOnlyOrigin) {
    throw new TypeError(
      `invalid Backplane URL ${JSON.stringify(url)}: expected an http or https origin without a path, ` +
        "such as http://localhost:3000",
    );
  }
  return parsed.origin;
}

type ClientSettings = Required<
  Pick<BacktestClientOptions, "requestTimeoutMs" | "ackTimeoutMs" | "subscribeRetryDelayMs" | "maxSubscribeRetries">
>;

/** Fills in the defaults and throws TypeError for a timing option that is not a non-negative number. */
function resolveSettings(options: BacktestClientOptions): ClientSettings {
  const settings: ClientSettings = {
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_SETTINGS.requestTimeoutMs,
    ackTimeoutMs: options.ackTimeoutMs ?? DEFAULT_SETTINGS.ackTimeoutMs,
    subscribeRetryDelayMs: options.subscribeRetryDelayMs ?? DEFAULT_SETTINGS.subscribeRetryDelayMs,
    maxSubscribeRetries: options.maxSubscribeRetries ?? DEFAULT_SETTINGS.maxSubscribeRetries,
  };
  for (const [name, value] of Object.entries(settings)) {
    if (!Number.isFinite(value) || value < 0) {
      throw new TypeError(`invalid client option ${name}: ${value}, expected a non-negative number`);
    }
  }
  return settings;
}
