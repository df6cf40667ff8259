import { randomUUID } from "node:crypto";

import { io } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type {
  BacktestSnapshot,
  ClientToServerEvents,
  ErrorBody,
  ServerToClientEvents,
} from "../../src/hubs/backtest-events";
import { callApi, GOOG_BACKTEST, waitForBacktest, type ApiReply, type ApiRequestOptions } from "../support/api";
import { BackplaneProcess } from "../support/backplane";
import { errorLines } from "../support/process-tree";
import { REDIS_SKIP_REASON, TestRedisServer, redisServerAvailable } from "../support/redis-server";
import type { Socket } from "socket.io-client";

const WORKER_LABEL = /^.+\/\d+$/;

type HubSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** A request body that is valid except for one field, and the field the 400 must name. */
interface FieldCase {
  name: string;
  body: unknown;
  field: string;
}

const FIELD_CASES: FieldCase[] = [
  { name: "cash as a string", body: { ...GOOG_BACKTEST, cash: "a" }, field: "cash" },
  { name: "negative cash", body: { ...GOOG_BACKTEST, cash: -1 }, field: "cash" },
  {
    name: "params.fast as a string",
    body: { ...GOOG_BACKTEST, params: { fast: "x", slow: 30 } },
    field: "params.fast",
  },
  { name: "params as null", body: { ...GOOG_BACKTEST, params: null }, field: "params" },
  { name: "params as an array", body: { ...GOOG_BACKTEST, params: [10, 30] }, field: "params" },
  { name: "commission above 0.5", body: { ...GOOG_BACKTEST, commission: 2 }, field: "commission" },
  { name: "fractional as a string", body: { ...GOOG_BACKTEST, fractional: "yes" }, field: "fractional" },
  { name: "barsPerSecond of 0", body: { ...GOOG_BACKTEST, barsPerSecond: 0 }, field: "barsPerSecond" },
  { name: "dataset as a number", body: { ...GOOG_BACKTEST, dataset: 5 }, field: "dataset" },
  { name: "missing strategy", body: { dataset: "goog-daily" }, field: "strategy" },
  { name: "unknown dataset", body: { ...GOOG_BACKTEST, dataset: "no-such-dataset" }, field: "dataset" },
  { name: "unknown strategy", body: { ...GOOG_BACKTEST, strategy: "no-such-strategy" }, field: "strategy" },
  { name: "unknown extra field", body: { ...GOOG_BACKTEST, leverage: 10 }, field: "leverage" },
];

/** A body that is not a JSON object, and a word the message must contain. */
const NOT_AN_OBJECT_CASES: { name: string; rawBody: string; contentType?: string; mentions: string }[] = [
  { name: "an array", rawBody: "[1,2]", mentions: "got an array" },
  { name: "a string", rawBody: '"goog-daily"', mentions: "got string" },
  { name: "a number", rawBody: "42", mentions: "got number" },
  { name: "null", rawBody: "null", mentions: "got null" },
  {
    name: "JSON sent as text/plain",
    rawBody: JSON.stringify(GOOG_BACKTEST),
    contentType: "text/plain",
    mentions: "JSON object",
  },
];

const MALFORMED_BODIES = ["{bad", '{"dataset":"goog-daily",', "\u0000", "{'dataset':'goog-daily'}"];

interface Mode {
  name: string;
  skip: boolean;
  env(redis: TestRedisServer | undefined): Record<string, string>;
}

const redisAvailable = redisServerAvailable();

const MODES: Mode[] = [
  { name: "single-host mode", skip: false, env: () => ({}) },
  {
    name: "Redis mode",
    skip: !redisAvailable,
    env: (redis) => ({
      REDIS_URL: redis?.url ?? "",
      REDIS_PREFIX: `test${randomUUID().slice(0, 8)}`,
      JOB_PROCESSES: "1",
    }),
  },
];

for (const mode of MODES) {
  describe.skipIf(mode.skip)(`bad input in ${mode.name}${mode.skip ? ` (${REDIS_SKIP_REASON})` : ""}`, () => {
    let redis: TestRedisServer | undefined;
    let backplane: BackplaneProcess;
    const sockets: HubSocket[] = [];
    /** Every HTTP reply of this mode, for the header check at the end. */
    const replies: { request: string; reply: ApiReply }[] = [];

    async function call(method: string, path: string, options?: ApiRequestOptions): Promise<ApiReply> {
      const reply = await callApi(backplane.url, method, path, options);
      replies.push({ request: `${method} ${path}`, reply });
      return reply;
    }

    /** Asserts a reply in the error shape and returns its error body. */
    function expectError(reply: ApiReply, status: number, code: ErrorBody["code"]): ErrorBody {
      expect(reply.status, JSON.stringify(reply.body)).toBe(status);
      const error = (reply.body as { error: ErrorBody }).error;
      expect(error.code).toBe(code);
      expect(typeof error.message).toBe("string");
      expect(error.message.length).toBeGreaterThan(10);
      expect(reply.worker).toMatch(WORKER_LABEL);
      return error;
    }

    async function connect(): Promise<HubSocket> {
      const socket: HubSocket = io(`${backplane.url}/backtest`, {
        transports: ["websocket"],
        reconnection: false,
        forceNew: true,
      });
      sockets.push(socket);
      await new Promise<void>((resolve, reject) => {
        socket.once("connect", () => resolve());
        socket.once("connect_error", (err) => reject(err));
      });
      return socket;
    }

    /** Emits `subscribe` with a raw payload, bypassing the typed event map. */
    async function subscribeRaw(socket: HubSocket, payload: unknown, timeoutMs = 10_000): Promise<unknown> {
      const untyped = socket as unknown as {
        timeout(ms: number): { emitWithAck(event: string, ...args: unknown[]): Promise<unknown> };
      };
      return untyped.timeout(timeoutMs).emitWithAck("subscribe", payload);
    }

    async function submitAndComplete(): Promise<string> {
      const submitted = await call("POST", "/api/backtests", { json: GOOG_BACKTEST });
      expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
      const id = (submitted.body as { id: string }).id;
      const snapshot = await waitForBacktest(backplane.url, id, ["completed", "failed", "cancelled"], 30_000);
      expect(snapshot.state).toBe("completed");
      return id;
    }

    beforeAll(async () => {
      if (mode.name === "Redis mode") redis = await TestRedisServer.start();
      backplane = await BackplaneProcess.start({ webWorkers: 2, env: mode.env(redis) });
      if (redis !== undefined) await backplane.waitForLog((line) => line.msg === "job process ready", 20_000);
    });

    afterAll(async () => {
      for (const socket of sockets) socket.close();
      const code = await backplane?.stop();
      await redis?.dispose();
      expect(code).toBe(0);
    });

    for (const body of MALFORMED_BODIES) {
      it(`rejects malformed JSON ${JSON.stringify(body)}`, async () => {
        const reply = await call("POST", "/api/backtests", { rawBody: body });
        const error = expectError(reply, 400, "validation_failed");
        expect(error.message).toMatch(/JSON/);
      });
    }

    for (const { name, body, field } of FIELD_CASES) {
      it(`rejects ${name} naming ${field}`, async () => {
        const reply = await call("POST", "/api/backtests", { json: body });
        const error = expectError(reply, 400, "validation_failed");
        expect(error.field).toBe(field);
        expect(error.message).toContain(field.split(".").at(-1));
      });
    }

    // body-parser reads an empty JSON body as {}, so the first missing field is named.
    it("rejects an empty body naming dataset", async () => {
      const reply = await call("POST", "/api/backtests", { rawBody: "" });
      expect(expectError(reply, 400, "validation_failed").field).toBe("dataset");
    });

    // JSON.parse makes "__proto__" an own key; it must be rejected as unknown, not merged.
    it("rejects a __proto__ key as an unknown field", async () => {
      const reply = await call("POST", "/api/backtests", {
        rawBody: '{"dataset":"goog-daily","strategy":"sma-cross","__proto__":{"cash":1}}',
      });
      const error = expectError(reply, 400, "validation_failed");
      expect(error.field).toBe("__proto__");
    });

    for (const { name, rawBody, contentType, mentions } of NOT_AN_OBJECT_CASES) {
      it(`rejects a body that is ${name}`, async () => {
        const reply = await call("POST", "/api/backtests", {
          rawBody,
          ...(contentType === undefined ? {} : { contentType }),
        });
        const error = expectError(reply, 400, "validation_failed");
        expect(error.message).toContain("JSON object");
        expect(error.message).toContain(mentions);
        expect(error.field).toBeUndefined();
      });
    }

    it("answers 404 not_found to GET and DELETE of an unknown id", async () => {
      const id = randomUUID();
      const read = await call("GET", `/api/backtests/${id}`);
      expect(expectError(read, 404, "not_found").message).toContain(id);

      const cancel = await call("DELETE", `/api/backtests/${id}`);
      expect(expectError(cancel, 404, "not_found").message).toContain(id);
    });

    it("answers 404 in the error shape to unknown routes", async () => {
      for (const [method, path] of [
        ["GET", "/no/such/route"],
        ["PUT", "/api/backtests"],
        ["POST", "/api/backtests/some-id"],
        ["GET", "/api/backtests/"],
      ] as const) {
        const error = expectError(await call(method, path), 404, "not_found");
        expect(error.message).toContain(method);
      }
    });

    describe("over the socket", () => {
      let socket: HubSocket;

      beforeAll(async () => {
        socket = await connect();
      });

      it("acks subscribe without an id with validation_failed", async () => {
        const reply = (await subscribeRaw(socket, {})) as { error: ErrorBody };
        expect(reply.error.code).toBe("validation_failed");
        expect(reply.error.field).toBe("id");
        expect(reply.error.message.length).toBeGreaterThan(10);
      });

      for (const payload of ["some-id", 42, null, [{ id: "x" }], { id: 7 }, { id: "" }]) {
        it(`acks subscribe with ${JSON.stringify(payload)} with validation_failed`, async () => {
          const reply = (await subscribeRaw(socket, payload)) as { error: ErrorBody };
          expect(reply.error.code).toBe("validation_failed");
          expect(typeof reply.error.message).toBe("string");
        });
      }

      // Regression: the primary used to keep reading a connection it had handed to a worker and
      // dropped what it read, so about 1 in 15 new WebSocket clients lost their first message.
      it("acks the first emit of every new socket", async () => {
        const unanswered: number[] = [];
        for (let i = 0; i < 150; i += 1) {
          const fresh: HubSocket = io(`${backplane.url}/backtest`, {
            transports: ["websocket"],
            reconnection: false,
            forceNew: true,
          });
          try {
            // Emitted before the connection opens, so it leaves right after the handshake.
            await subscribeRaw(fresh, {}, 3_000);
          } catch {
            unanswered.push(i);
          } finally {
            fresh.close();
          }
        }
        expect(unanswered).toEqual([]);
      });

      it("acks subscribe to an unknown id with not_found", async () => {
        const id = randomUUID();
        const reply = (await subscribeRaw(socket, { id })) as { error: ErrorBody };
        expect(reply.error.code).toBe("not_found");
        expect(reply.error.message).toContain(id);
      });

      it("survives subscribe without an ack callback", async () => {
        const untyped = socket as unknown as { emit(event: string, payload: unknown): void };
        untyped.emit("subscribe", { id: randomUUID() });
        untyped.emit("subscribe", "no ack and no object");

        // The same socket still gets replies, so neither the socket nor its worker went down.
        const reply = (await subscribeRaw(socket, { id: randomUUID() })) as { error: ErrorBody };
        expect(reply.error.code).toBe("not_found");
        expect(socket.connected).toBe(true);
        await backplane.waitFor(
          () => backplane.count((line) => line.msg === "subscribe without an acknowledgement callback ignored") >= 2,
          5_000,
          "both subscribes without an ack to be logged",
        );
      });
    });

    it("still runs a backtest after the bad input", async () => {
      await submitAndComplete();

      const health = await call("GET", "/healthz");
      expect(health.status).toBe(200);
      expect(health.worker).toMatch(WORKER_LABEL);
    });

    it("answers 409 conflict to DELETE of a completed backtest", async () => {
      const id = await submitAndComplete();

      const error = expectError(await call("DELETE", `/api/backtests/${id}`), 409, "conflict");
      expect(error.message).toContain(id);
      expect(error.message).toContain("completed");

      // The conflict changed nothing: the snapshot is still the completed one.
      const read = await call("GET", `/api/backtests/${id}`);
      expect(read.status).toBe(200);
      expect((read.body as BacktestSnapshot).state).toBe("completed");
    });

    it("acks subscribe to a completed backtest with its snapshot", async () => {
      const id = await submitAndComplete();
      const socket = await connect();

      const reply = (await subscribeRaw(socket, { id })) as { snapshot: BacktestSnapshot; worker: string };
      expect(reply.snapshot.state).toBe("completed");
      expect(reply.snapshot.result?.stats.trades).toBeGreaterThan(0);
      expect(reply.worker).toMatch(WORKER_LABEL);
    });

    it("sends X-Backplane-Worker on every response", () => {
      expect(replies.length).toBeGreaterThan(20);
      for (const { request, reply } of replies) {
        expect(reply.worker, `${request} -> ${reply.status}`).toMatch(WORKER_LABEL);
      }
    });

    it("logged no error and lost no worker", () => {
      // A client's bad input is logged at info; an error line or a respawn means a server fault.
      expect(errorLines(backplane)).toEqual([]);
      expect(backplane.count((line) => line.msg === "child died; respawning")).toBe(0);
    });
  });
}
