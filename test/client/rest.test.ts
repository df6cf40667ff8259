import { afterEach, describe, expect, test } from "vitest";

import {
  BacktestApiError,
  BacktestConnectionError,
  BacktestProtocolError,
  createBacktestClient,
  type BacktestClient,
} from "../../src/client/backtest-client";
import { freePort } from "../support/ports";
import { StandInServer, makeSnapshot, type StandInOptions } from "./stand-in-server";

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup();
  }
});

async function startServer(onHttpRequest: StandInOptions["onHttpRequest"]): Promise<StandInServer> {
  const server = await StandInServer.start({ onHttpRequest });
  cleanups.push(() => server.close());
  return server;
}

function startClient(url: string, requestTimeoutMs?: number): BacktestClient {
  const client = createBacktestClient({ url, ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }) });
  cleanups.push(() => client.close());
  return client;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => new Error("expected a rejection"),
    (error: unknown) => error,
  );
}

describe("backtest client REST", () => {
  test("submit posts the request and returns the id", async () => {
    const server = await startServer(() => ({ status: 202, body: { id: "bt-42" } }));
    const client = startClient(server.url);
    const request = {
      dataset: "btcusdt-1h",
      strategy: "sma-cross",
      params: { fast: 10, slow: 30 },
      cash: 10_000,
      commission: 0.001,
      fractional: true,
    };

    const id = await client.submit(request);

    expect(id).toBe("bt-42");
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]?.method).toBe("POST");
    expect(server.requests[0]?.path).toBe("/api/backtests");
    expect(server.requests[0]?.headers["content-type"]).toBe("application/json");
    expect(server.requests[0]?.body).toEqual(request);
  });

  test("get and cancel return snapshots", async () => {
    const server = await startServer((request) => ({
      status: request.method === "DELETE" ? 202 : 200,
      body: makeSnapshot("bt 1", { seq: 3, state: request.method === "DELETE" ? "running" : "queued" }),
    }));
    const client = startClient(server.url);

    const snapshot = await client.get("bt 1");
    const cancelled = await client.cancel("bt 1");

    expect(snapshot.state).toBe("queued");
    expect(cancelled.seq).toBe(3);
    expect(server.requests.map((request) => `${request.method} ${request.path}`)).toEqual([
      "GET /api/backtests/bt%201",
      "DELETE /api/backtests/bt%201",
    ]);
  });

  test("catalogue error becomes BacktestApiError", async () => {
    const server = await startServer(() => ({
      status: 400,
      body: { error: { code: "validation_failed", message: "unknown dataset nope-1h", field: "dataset" } },
    }));
    const client = startClient(server.url);

    const error = await rejection(client.submit({ dataset: "nope-1h", strategy: "sma-cross" }));

    expect(error).toBeInstanceOf(BacktestApiError);
    const apiError = error as BacktestApiError;
    expect(apiError.status).toBe(400);
    expect(apiError.code).toBe("validation_failed");
    expect(apiError.field).toBe("dataset");
    expect(apiError.message).toBe("unknown dataset nope-1h");
  });

  test("cancel of a finished backtest is a conflict", async () => {
    const server = await startServer(() => ({
      status: 409,
      body: { error: { code: "conflict", message: "backtest bt-1 already completed" } },
    }));
    const client = startClient(server.url);

    const error = await rejection(client.cancel("bt-1"));

    expect(error).toBeInstanceOf(BacktestApiError);
    expect((error as BacktestApiError).status).toBe(409);
    expect((error as BacktestApiError).code).toBe("conflict");
  });

  test("non-catalogue error body is quoted", async () => {
    const server = await startServer(() => ({
      status: 502,
      body: "<html>Bad Gateway</html>",
      contentType: "text/html",
    }));
    const client = startClient(server.url);

    const error = await rejection(client.get("bt-1"));

    expect(error).toBeInstanceOf(BacktestApiError);
    expect((error as BacktestApiError).status).toBe(502);
    expect((error as BacktestApiError).code).toBe("internal");
    expect((error as Error).message).toBe("GET /api/backtests/bt-1 returned 502: <html>Bad Gateway</html>");
  });

  test("unknown route maps 404 to not_found", async () => {
    const server = await startServer(() => ({ status: 404, body: "Cannot GET /api/backtests/bt-1" }));
    const client = startClient(server.url);

    const error = await rejection(client.get("bt-1"));

    expect((error as BacktestApiError).code).toBe("not_found");
  });

  test("malformed snapshot is a protocol error", async () => {
    const server = await startServer(() => ({ status: 200, body: { id: "bt-1", state: "sleeping" } }));
    const client = startClient(server.url);

    const error = await rejection(client.get("bt-1"));

    expect(error).toBeInstanceOf(BacktestProtocolError);
    expect((error as Error).message).toContain("invalid GET /api/backtests/bt-1 response");
  });

  test("refused connection is a connection error", async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const client = startClient(url);

    const error = await rejection(client.submit({ dataset: "btcusdt-1h", strategy: "sma-cross" }));

    expect(error).toBeInstanceOf(BacktestConnectionError);
    expect((error as BacktestConnectionError).url).toBe(url);
    expect((error as Error).message).toMatch(
      new RegExp(`^cannot reach Backplane at ${url}: connect ECONNREFUSED 127\\.0\\.0\\.1:\\d+$`),
    );
  });

  test("request without a response times out", async () => {
    const server = await startServer(() => undefined);
    const client = startClient(server.url, 200);

    const started = Date.now();
    const error = await rejection(client.get("bt-1"));

    expect(error).toBeInstanceOf(BacktestConnectionError);
    expect((error as Error).message).toBe(`cannot reach Backplane at ${server.url}: no response within 200 ms`);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe("backtest client options", () => {
  test.each([["localhost:3000"], ["ftp://127.0.0.1:3000"], ["http://127.0.0.1:3000/backplane"], ["not a url"]])(
    "url %s is rejected",
    (url) => {
      expect(() => createBacktestClient({ url })).toThrow(TypeError);
    },
  );

  test("trailing slash is dropped from the url", () => {
    const client = createBacktestClient({ url: "http://127.0.0.1:3000/" });

    expect(client.url).toBe("http://127.0.0.1:3000");
    client.close();
  });

  test("negative timeout is rejected", () => {
    expect(() => createBacktestClient({ url: "http://127.0.0.1:3000", requestTimeoutMs: -1 })).toThrow(
      "invalid client option requestTimeoutMs: -1",
    );
  });
});
