import http from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";

import { Redis } from "ioredis";
import pino from "pino";
import { Server } from "socket.io";
import { io as connectClient, type Socket } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { BACKTEST_NAMESPACE, backtestRoom, type CompletedEvent } from "../../src/hubs/backtest-events";
import { backtestEventsKey } from "../../src/queues/backtest-queue";
import type { BacktestNamespace } from "../../src/relay/event-payload";
import { createCompletionRelay } from "../../src/relay/completion-relay";
import { REDIS_SKIP_REASON, TestRedisServer, redisServerAvailable } from "../support/redis-server";
import { until } from "../support/hub-client";

const skipReason = redisServerAvailable() ? undefined : REDIS_SKIP_REASON;
const READER_NAME = "test-completion-reader";

function completion(seq: number): string {
  return JSON.stringify({ seq, total: 10, result: { stats: { trades: seq }, trades: [] } });
}

describe.skipIf(skipReason !== undefined)(
  `completion relay${skipReason === undefined ? "" : ` (${skipReason})`}`,
  () => {
    let server: TestRedisServer;
    let redis: Redis;
    let httpServer: http.Server;
    let io: Server;
    let client: Socket;
    const followed = randomUUID();
    const received: CompletedEvent[] = [];

    beforeAll(async () => {
      server = await TestRedisServer.start();
      redis = new Redis(server.port, "127.0.0.1");
      httpServer = http.createServer();
      io = new Server(httpServer);
      io.of(BACKTEST_NAMESPACE).on("connection", (socket) => void socket.join(backtestRoom(followed)));
      await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
      const { port } = httpServer.address() as AddressInfo;
      client = connectClient(`http://127.0.0.1:${port}${BACKTEST_NAMESPACE}`, { transports: ["websocket"] });
      client.on("completed", (event: CompletedEvent) => received.push(event));
      await until(() => client.connected, "the client is connected");
      await until(() => io.of(BACKTEST_NAMESPACE).adapter.rooms.has(backtestRoom(followed)), "the client follows");
    });

    afterAll(async () => {
      client?.disconnect();
      await io?.close();
      redis?.disconnect();
      await server?.dispose();
    });

    /** Reports whether the reader is blocked in XREAD, so that entries appended now reach it. */
    async function readerIsBlocked(): Promise<boolean> {
      const list = (await redis.client("LIST")) as string;
      return list.split("\n").some((line) => line.includes(`name=${READER_NAME}`) && line.includes("cmd=xread"));
    }

    it("relays followed completions once and resumes", async () => {
      const prefix = `test-${randomUUID()}`;
      const streamKey = backtestEventsKey(prefix);
      const reader = new Redis(server.port, "127.0.0.1", { maxRetriesPerRequest: null, connectionName: READER_NAME });
      const warnings: string[] = [];
      const logger = pino(
        { level: "warn" },
        { write: (line: string) => warnings.push((JSON.parse(line) as { msg: string }).msg) },
      );
      let resyncs = 0;
      const relay = createCompletionRelay({
        reader,
        streamKey,
        namespace: io.of(BACKTEST_NAMESPACE) as BacktestNamespace,
        resync: () => (resyncs += 1),
        logger,
      });
      try {
        await until(readerIsBlocked, "the reader waits for entries");

        // Entries the relay must drop: another kind, a backtest that no socket here follows, a job that
        // returned nothing (a cancelled backtest) and a return value that is not a completion.
        await redis.xadd(streamKey, "*", "event", "active", "jobId", followed, "prev", "waiting");
        await redis.xadd(streamKey, "*", "event", "completed", "jobId", randomUUID(), "returnvalue", completion(9));
        await redis.xadd(streamKey, "*", "event", "completed", "jobId", followed, "returnvalue", "null");
        await redis.xadd(streamKey, "*", "event", "completed", "jobId", followed, "returnvalue", '{"seq":"x"}');
        await redis.xadd(streamKey, "*", "event", "completed", "jobId", followed, "returnvalue", completion(3));
        await until(() => received.length === 1, "the completion arrives");
        expect(received[0]).toEqual({ id: followed, seq: 3, result: { stats: { trades: 3 }, trades: [] } });
        expect(warnings).toEqual(["dropped malformed backtest completion"]);

        // Entries appended while the reader is disconnected arrive once it is back.
        await until(readerIsBlocked, "the reader waits again");
        const killed = new Promise((resolve) => reader.once("close", resolve));
        await redis.client("KILL", "SKIPME", "yes", "TYPE", "normal");
        await killed;
        await redis.xadd(streamKey, "*", "event", "completed", "jobId", followed, "returnvalue", completion(4));
        await until(() => received.length === 2, "the completion appended during the reconnect arrives");
        expect(received.map((event) => event.seq)).toEqual([3, 4]);
        expect(resyncs).toBe(1);

        // A reader that falls further behind than the stream's length resends snapshots instead.
        await until(readerIsBlocked, "the reader waits once more");
        const burst = redis.multi();
        for (let i = 0; i < 1_500; i += 1) {
          burst.xadd(streamKey, "MAXLEN", 1_000, "*", "event", "active", "jobId", randomUUID(), "prev", "waiting");
        }
        await burst.exec();
        await until(() => resyncs === 2, "the trimmed entries cause a resync");
        expect(warnings).toContain("backtest completions were trimmed before this worker read them");
      } finally {
        await relay.close();
        reader.disconnect();
      }
    });
  },
);
