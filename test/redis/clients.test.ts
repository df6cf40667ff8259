import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import type { RedisConnection } from "../../src/config/redis-connection-string";
import { type Logger, createLogger } from "../../src/logging/logger";
import {
  MAX_RECONNECT_DELAY_MS,
  createProducerConnection,
  createPubSubPair,
  createWorkerConnection,
  reconnectDelayMs,
} from "../../src/redis/clients";
import { logRedisClientEvents } from "../../src/redis/error-log";
import { freePort } from "../support/ports";
import { REDIS_SKIP_REASON, TestRedisServer, redisServerAvailable } from "../support/redis-server";

const PASSWORD = "right-p@ss:w/o=r+d%#1";
const WRONG_PASSWORD = "wrong-p@ss:w/o=r+d%#2";

type LogLine = Record<string, unknown> & { msg?: string; level?: number };

/** Creates a logger without secrets that keeps its lines, with a bounded wait for a matching line. */
function captureLogger() {
  const raw: string[] = [];
  const waiters = new Set<() => void>();
  const logger: Logger = createLogger({
    level: "info",
    role: "jobs",
    destination: {
      write(line: string) {
        raw.push(line);
        for (const wake of waiters) wake();
      },
    },
  });
  const lines = (): LogLine[] => raw.map((line) => JSON.parse(line) as LogLine);

  async function waitForLine(predicate: (line: LogLine) => boolean, timeoutMs = 5000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = lines().find(predicate);
      if (found !== undefined) return found;
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0) throw new Error(`no matching log line within ${timeoutMs} ms; got ${raw.join("")}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, remainingMs);
        function done() {
          clearTimeout(timer);
          waiters.delete(done);
          resolve();
        }
        waiters.add(done);
      });
    }
  }
  return { logger, raw, lines, waitForLine };
}

function connectionTo(port: number, password?: string): RedisConnection {
  return { hosts: [{ host: "127.0.0.1", port }], password, tls: false, db: 0, warnings: [] };
}

describe("reconnectDelayMs", () => {
  it("doubles from 1 s up to the cap", () => {
    expect([1, 2, 3, 4, 5, 6, 100].map(reconnectDelayMs)).toEqual([1000, 2000, 4000, 8000, 16_000, 20_000, 20_000]);
    expect(MAX_RECONNECT_DELAY_MS).toBe(20_000);
  });
});

describe("logRedisClientEvents", () => {
  const clients: Redis[] = [];
  afterEach(() => {
    for (const client of clients.splice(0)) client.disconnect();
  });

  /** Creates a client that never connects, to emit events on by hand. */
  function idleClient(): Redis {
    const client = new Redis({ lazyConnect: true });
    clients.push(client);
    return client;
  }

  it("logs a repeated error once per interval with a count", () => {
    const { logger, lines } = captureLogger();
    const client = idleClient();
    logRedisClientEvents(client, logger, { secrets: [], intervalMs: 60_000 });

    for (let i = 0; i < 5; i++) client.emit("error", new Error("connect ECONNREFUSED 127.0.0.1:1"));
    client.emit("ready");
    client.emit("error", new Error("connect ECONNREFUSED 127.0.0.1:1"));

    expect(lines().map(({ msg, suppressed }) => ({ msg, suppressed }))).toEqual([
      { msg: "Redis client error", suppressed: 0 },
      { msg: "Redis connection ready", suppressed: 4 },
      { msg: "Redis client error", suppressed: 0 },
    ]);
  });

  it("logs a different error at once", () => {
    const { logger, lines } = captureLogger();
    const client = idleClient();
    logRedisClientEvents(client, logger, { secrets: [], intervalMs: 60_000 });

    client.emit("error", new Error("first"));
    client.emit("error", new Error("first"));
    client.emit("error", new Error("second"));

    expect(lines().map((line) => (line["err"] as { message: string }).message)).toEqual(["first", "second"]);
    expect(lines()[1]?.["suppressed"]).toBe(1);
  });

  it("leaves out command arguments and scrubs secrets", () => {
    const { logger, raw, lines } = captureLogger();
    const client = idleClient();
    logRedisClientEvents(client, logger, { secrets: ["s3cret"], intervalMs: 0 });
    const err = Object.assign(new Error("failed near s3cret"), {
      code: "E1",
      command: { name: "auth", args: ["s3cret"] },
    });

    client.emit("error", err);

    expect(raw.join("")).not.toContain("s3cret");
    expect(lines()[0]?.["err"]).toMatchObject({
      name: "Error",
      message: "failed near ****",
      code: "E1",
      command: "auth",
    });
  });
});

const skipReason = redisServerAvailable() ? undefined : REDIS_SKIP_REASON;

describe.skipIf(skipReason !== undefined)(`Redis clients${skipReason === undefined ? "" : ` (${skipReason})`}`, () => {
  let open: TestRedisServer;
  let protectedServer: TestRedisServer;
  const clients: Redis[] = [];

  beforeAll(async () => {
    [open, protectedServer] = await Promise.all([
      TestRedisServer.start(),
      TestRedisServer.start({ requirePass: PASSWORD }),
    ]);
  });

  afterEach(() => {
    for (const client of clients.splice(0)) client.disconnect();
  });

  afterAll(async () => {
    await Promise.all([open?.dispose(), protectedServer?.dispose()]);
  });

  function track<T extends Redis>(client: T): T {
    clients.push(client);
    return client;
  }

  it("producer rejects a command while Redis is down", async () => {
    const { logger } = captureLogger();
    const closedPort = await freePort();
    const producer = track(
      createProducerConnection({
        connection: connectionTo(closedPort),
        connectionName: "test-producer",
        logger,
        commandTimeoutMs: 500,
      }),
    );

    await expect(producer.ping()).rejects.toThrow();
  });

  it("producer times out a command on a paused server", async () => {
    const { logger } = captureLogger();
    const producer = track(
      createProducerConnection({
        connection: connectionTo(open.port),
        connectionName: "test-producer",
        logger,
        commandTimeoutMs: 300,
      }),
    );
    const admin = track(new Redis({ host: "127.0.0.1", port: open.port }));
    await new Promise((resolve) => producer.once("ready", resolve));

    // CLIENT PAUSE delays every client's commands, like a server that stopped replying.
    await admin.call("CLIENT", "PAUSE", "1500", "ALL");

    await expect(producer.ping()).rejects.toThrow("Command timed out");
  });

  it("worker connection waits for Redis to come back", async () => {
    const { logger } = captureLogger();
    const server = await TestRedisServer.start();
    try {
      const worker = track(
        createWorkerConnection({ connection: connectionTo(server.port), connectionName: "test-worker", logger }),
      );
      await new Promise((resolve) => worker.once("ready", resolve));
      await server.stop();

      // The command is queued while the server is down and sent once it is back.
      const reply = worker.set("key", "value");
      await server.launch();

      await expect(reply).resolves.toBe("OK");
    } finally {
      await server.dispose();
    }
  });

  it("sets the connection name", async () => {
    const { logger } = captureLogger();
    const worker = track(
      createWorkerConnection({ connection: connectionTo(open.port), connectionName: "test-named", logger }),
    );

    await expect(worker.client("GETNAME")).resolves.toBe("test-named");
  });

  it("pub/sub pair delivers a message", async () => {
    const { logger } = captureLogger();
    const { publisher, subscriber } = createPubSubPair({
      connection: connectionTo(open.port),
      connectionName: "test-adapter",
      logger,
    });
    track(publisher);
    track(subscriber);
    const channel = `test-${process.pid}-${Date.now()}`;
    const received = new Promise<string>((resolve) =>
      subscriber.once("message", (_channel: string, message: string) => resolve(message)),
    );

    await subscriber.subscribe(channel);
    await publisher.publish(channel, "hello");

    await expect(received).resolves.toBe("hello");
    await expect(publisher.client("GETNAME")).resolves.toBe("test-adapter:pub");
  });

  it("authenticates with the password", async () => {
    const { logger } = captureLogger();
    const worker = track(
      createWorkerConnection({
        connection: connectionTo(protectedServer.port, PASSWORD),
        connectionName: "test-auth",
        logger,
      }),
    );

    await expect(worker.ping()).resolves.toBe("PONG");
  });

  // Guards against the password reaching logs through ioredis' err.command.args on a failed AUTH.
  it("never logs a wrong password", async () => {
    const { logger, raw, waitForLine } = captureLogger();
    track(
      createWorkerConnection({
        connection: connectionTo(protectedServer.port, WRONG_PASSWORD),
        connectionName: "test-wrongpass",
        logger,
      }),
    );

    const line = await waitForLine((candidate) => candidate.msg === "Redis client error");

    expect((line["err"] as { message: string }).message).toContain("WRONGPASS");
    expect(raw.join("")).not.toContain(WRONG_PASSWORD);
    expect(raw.join("")).not.toContain(encodeURIComponent(WRONG_PASSWORD));
  });
});
