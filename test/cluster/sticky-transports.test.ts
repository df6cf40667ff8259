import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { BackplaneProcess } from "../support/backplane";
import { connectHub, postJson, subscribe, type HubSocket, type Transport } from "../support/hub-client";

const ROUND_TRIPS = 50;

/**
 * Sticky balancing through the cluster primary: every transport works with two web workers,
 * and a polling session keeps reaching the worker that holds it.
 */
describe("sticky sessions over two web workers", () => {
  let server: BackplaneProcess;
  let backtestId: string;
  const sockets: HubSocket[] = [];

  beforeAll(async () => {
    server = await BackplaneProcess.start({ webWorkers: 2 });
    // A slow backtest whose subscribe acks name the worker that serves each session.
    const submitted = await postJson(`${server.url}/api/backtests`, {
      dataset: "goog-daily",
      strategy: "sma-cross",
      params: { fast: 10, slow: 30 },
      barsPerSecond: 100,
    });
    expect(submitted.status).toBe(202);
    backtestId = (submitted.body as { id: string }).id;
  });

  afterAll(async () => {
    for (const socket of sockets) socket.close();
    expect(await server.stop()).toBe(0);
  });

  const cases: { name: string; transports: Transport[] | undefined; finalTransport: Transport }[] = [
    { name: "polling only", transports: ["polling"], finalTransport: "polling" },
    { name: "websocket only", transports: ["websocket"], finalTransport: "websocket" },
    { name: "default upgrade", transports: undefined, finalTransport: "websocket" },
  ];

  for (const { name, transports, finalTransport } of cases) {
    it(`keeps ${name} sessions on both workers for ${ROUND_TRIPS} round trips`, async () => {
      // Two sessions one after the other: least-connection balancing puts them on different workers.
      const pair = [await connectHub(server.url, transports), await connectHub(server.url, transports)];
      sockets.push(...pair);
      const workers = new Set<string>();

      for (const socket of pair) {
        const errors: string[] = [];
        const sessionId = socket.id;
        socket.io.engine.on("error", (err: unknown) => errors.push(String(err)));
        socket.on("disconnect", (reason) => errors.push(`disconnect: ${reason}`));

        for (let i = 0; i < ROUND_TRIPS; i += 1) {
          const reply = await subscribe(socket, backtestId);
          if ("error" in reply) throw new Error(`subscribe failed: ${reply.error.message}`);
          workers.add(reply.worker);
        }

        expect(errors).toEqual([]);
        expect(socket.id).toBe(sessionId);
        expect(socket.connected).toBe(true);
        expect(socket.io.engine.transport.name).toBe(finalTransport);
      }
      expect(workers.size).toBe(2);
    });
  }

  it("tags every HTTP response with the worker that served it", async () => {
    const labels = new Set<string>();
    for (let i = 0; i < 6; i += 1) {
      const response = await fetch(`${server.url}/healthz`);
      const label = response.headers.get("x-backplane-worker");
      expect(label).toMatch(/^.+\/\d+$/);
      labels.add(String(label));
    }
    const pids = server.webWorkerPids().map(String);
    for (const label of labels) expect(pids).toContain(label.split("/").at(-1));
  });
});
