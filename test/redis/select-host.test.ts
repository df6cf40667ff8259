import net from "node:net";

import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { RedisConnection } from "../../src/config/redis-connection-string";
import { selectRedisHost } from "../../src/redis/select-host";
import { freePort } from "../support/ports";
import { REDIS_SKIP_REASON, TestRedisServer, redisServerAvailable } from "../support/redis-server";

const PASSWORD = "p@ss:w/o=r+d%#1";

function connectionTo(ports: number[], password?: string): RedisConnection {
  return {
    hosts: ports.map((port) => ({ host: "127.0.0.1", port })),
    password,
    tls: false,
    db: 0,
    warnings: [],
  };
}

const skipReason = redisServerAvailable() ? undefined : REDIS_SKIP_REASON;

describe.skipIf(skipReason !== undefined)(
  `selectRedisHost${skipReason === undefined ? "" : ` (${skipReason})`}`,
  () => {
    let open: TestRedisServer;
    let protectedServer: TestRedisServer;
    let closedPort: number;
    // Accepts connections and never replies, like a host behind a stalled proxy.
    let silent: net.Server;
    const silentSockets = new Set<net.Socket>();

    beforeAll(async () => {
      [open, protectedServer] = await Promise.all([
        TestRedisServer.start(),
        TestRedisServer.start({ requirePass: PASSWORD }),
      ]);
      closedPort = await freePort();
      silent = net.createServer((socket) => {
        silentSockets.add(socket);
        socket.on("close", () => silentSockets.delete(socket));
      });
      await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    });

    afterAll(async () => {
      for (const socket of silentSockets) socket.destroy();
      await new Promise((resolve) => silent?.close(resolve));
      await Promise.all([open?.dispose(), protectedServer?.dispose()]);
    });

    function silentPort(): number {
      const address = silent.address();
      if (typeof address !== "object" || address === null) throw new Error("silent server has no port");
      return address.port;
    }

    it("selects the live host after a closed one", async () => {
      const selected = await selectRedisHost(connectionTo([closedPort, open.port]), { timeoutMs: 1000 });

      expect(selected).toEqual({ host: "127.0.0.1", port: open.port });
    });

    it("returns undefined when no host answers", async () => {
      const selected = await selectRedisHost(connectionTo([closedPort]), { timeoutMs: 1000 });

      expect(selected).toBeUndefined();
    });

    it("skips a host that never answers", async () => {
      const selected = await selectRedisHost(connectionTo([silentPort(), open.port]), { timeoutMs: 300 });

      expect(selected).toEqual({ host: "127.0.0.1", port: open.port });
    });

    it("authenticates with the password", async () => {
      const selected = await selectRedisHost(connectionTo([closedPort, protectedServer.port], PASSWORD), {
        timeoutMs: 1000,
      });

      expect(selected).toEqual({ host: "127.0.0.1", port: protectedServer.port });
    });

    it("rejects a host whose password is wrong", async () => {
      const selected = await selectRedisHost(connectionTo([protectedServer.port], "wrong"), { timeoutMs: 1000 });

      expect(selected).toBeUndefined();
    });

    it("rejects a host that needs a password not given", async () => {
      const selected = await selectRedisHost(connectionTo([protectedServer.port]), { timeoutMs: 1000 });

      expect(selected).toBeUndefined();
    });

    it("skips a replica", async () => {
      const replica = await TestRedisServer.start();
      const admin = new Redis({ host: "127.0.0.1", port: replica.port, lazyConnect: true });
      try {
        await admin.connect();
        await admin.call("REPLICAOF", "127.0.0.1", String(open.port));

        const selected = await selectRedisHost(connectionTo([replica.port, open.port]), { timeoutMs: 1000 });

        expect(selected).toEqual({ host: "127.0.0.1", port: open.port });
      } finally {
        admin.disconnect();
        await replica.dispose();
      }
    });
  },
);
