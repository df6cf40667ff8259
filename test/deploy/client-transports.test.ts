import { afterEach, describe, expect, test } from "vitest";

import {
  BacktestApiError,
  BacktestProtocolError,
  createBacktestClient,
  fetchClientConfig,
  type BacktestClient,
} from "../../src/client/backtest-client";
import { StandInServer, makeResult, makeSnapshot, type HttpReply, type SubscribeCall } from "../client/stand-in-server";

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * A stand-in whose `GET /api/client-config` returns `configReply`. `handshakes` receives the transport of each
 * socket.io handshake, which is the first transport of the client's list.
 */
async function startServer(configReply: HttpReply, handshakes: string[] = []): Promise<StandInServer> {
  const server = await StandInServer.start({
    onHttpRequest: (request) =>
      request.path === "/api/client-config" ? configReply : { status: 404, body: "no route" },
    onSubscribe(call: SubscribeCall) {
      call.ack({
        snapshot: makeSnapshot(call.id, { state: "completed", seq: 1, result: makeResult() }),
        worker: "stand-in/1",
      });
    },
  });
  server.io.engine.on("connection", (connection: { transport: { name: string } }) => {
    handshakes.push(connection.transport.name);
  });
  cleanups.push(() => server.close());
  return server;
}

function serverClient(url: string): BacktestClient {
  const client = createBacktestClient({ url, transports: "server", requestTimeoutMs: 2_000 });
  cleanups.push(() => client.close());
  return client;
}

describe("fetchClientConfig", () => {
  test("returns the server's transports", async () => {
    const server = await startServer({ status: 200, body: { transports: ["websocket"] } });

    expect(await fetchClientConfig(server.url)).toEqual({ transports: ["websocket"] });
  });

  test("server without the route gives undefined", async () => {
    const server = await startServer({ status: 404, body: { error: { code: "not_found", message: "no route" } } });

    expect(await fetchClientConfig(server.url)).toBeUndefined();
  });

  test("unknown transport is a protocol error", async () => {
    const server = await startServer({ status: 200, body: { transports: ["carrier-pigeon"] } });

    await expect(fetchClientConfig(server.url)).rejects.toThrow(BacktestProtocolError);
  });

  test("empty list is a protocol error", async () => {
    const server = await startServer({ status: 200, body: { transports: [] } });

    await expect(fetchClientConfig(server.url)).rejects.toThrow(BacktestProtocolError);
  });
});

describe("client with transports from the server", () => {
  test("connects with the server's transports", async () => {
    const handshakes: string[] = [];
    const server = await startServer({ status: 200, body: { transports: ["websocket"] } }, handshakes);

    const snapshot = await serverClient(server.url).follow("bt-1").done;

    expect(snapshot.state).toBe("completed");
    expect(handshakes).toEqual(["websocket"]);
    expect(server.requests.map((request) => `${request.method} ${request.path}`)).toEqual(["GET /api/client-config"]);
  });

  test("server without the route keeps socket.io's default", async () => {
    const handshakes: string[] = [];
    const server = await startServer(
      { status: 404, body: { error: { code: "not_found", message: "no route" } } },
      handshakes,
    );

    const snapshot = await serverClient(server.url).follow("bt-1").done;

    expect(snapshot.state).toBe("completed");
    // socket.io's default starts with long-polling and upgrades to WebSocket afterwards.
    expect(handshakes).toEqual(["polling"]);
  });

  test("unreadable config fails the follow without connecting", async () => {
    const server = await startServer({
      status: 503,
      body: { error: { code: "unavailable", message: "proxy is down" } },
    });
    const client = serverClient(server.url);

    await expect(client.follow("bt-1").done).rejects.toThrow(BacktestApiError);
    expect(server.subscribes).toEqual([]);

    // A later follow reads the config again.
    await expect(client.follow("bt-2").done).rejects.toThrow("proxy is down");
    expect(server.requests.filter((request) => request.path === "/api/client-config")).toHaveLength(2);
  });
});
