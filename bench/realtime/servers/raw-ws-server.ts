/**
 * Entry of the raw `ws` reference server of the fanout scenario: one process with the `ws` package
 * (8.x, the WebSocket server under socket.io) and a Map of rooms. It speaks just enough Engine.IO
 * and socket.io for the bench's clients: the open packet, the namespace connect, and `subscribe`
 * with its acknowledgement. It broadcasts the same frames socket.io would, one `ws.send` per socket, so
 * it shows what the machine allows below socket.io. It is a reference, not a baseline: it has no
 * heartbeat, no acknowledgement bookkeeping and no adapter.
 */
import { randomBytes } from "node:crypto";
import http from "node:http";

import { WebSocketServer, type WebSocket } from "ws";

import { backtestRoom } from "../../../src/hubs/backtest-events";
import { toProgress } from "../../../src/queues/progress";
import { monotonicMs } from "../clock";
import { parentEndpoint, sendEvent, serveCommands } from "../ipc";
import { publishOpenLoop } from "../publish/open-loop";
import { BENCH_TOTAL, benchEvent, paddingFor, stamp } from "../publish/payload";
import { collectGarbage, type ServerCommands } from "./commands";

const NAMESPACE_PREFIX = "/backtest,";
const port = Number(process.env["STOCK_PORT"] ?? "0");
const rooms = new Map<string, Set<WebSocket>>();

function sessionId(): string {
  return randomBytes(15).toString("base64url");
}

/**
 * Handles a socket.io packet (the text after Engine.IO's "4"). It accepts the namespace connect
 * `0/backtest,`, and handles `2/backtest,<ack>["subscribe",{"id":...}]` by joining the room and
 * acknowledging a snapshot.
 */
function onSocketIoPacket(ws: WebSocket, joined: Set<string>, text: string): void {
  if (text === `0${NAMESPACE_PREFIX}`) {
    ws.send(`40${NAMESPACE_PREFIX}{"sid":"${sessionId()}"}`);
    return;
  }
  if (!text.startsWith(`2${NAMESPACE_PREFIX}`)) return;

  const body = text.slice(1 + NAMESPACE_PREFIX.length);
  const bracket = body.indexOf("[");
  const ackId = body.slice(0, bracket);
  const [event, request] = JSON.parse(body.slice(bracket)) as [string, { id?: unknown }];
  if (event !== "subscribe" || typeof request.id !== "string" || ackId === "") return;

  const room = backtestRoom(request.id);
  const members = rooms.get(room) ?? new Set<WebSocket>();
  members.add(ws);
  rooms.set(room, members);
  joined.add(room);
  const snapshot = { id: request.id, state: "running", seq: 0, progress: toProgress(0, BENCH_TOTAL) };
  ws.send(`43${NAMESPACE_PREFIX}${ackId}${JSON.stringify([{ snapshot, worker: "raw-ws" }])}`);
}

const httpServer = http.createServer();
const wss = new WebSocketServer({ server: httpServer, path: "/socket.io/", perMessageDeflate: false });
wss.on("connection", (ws) => {
  const joined = new Set<string>();
  ws.send(
    `0${JSON.stringify({ sid: sessionId(), upgrades: [], pingInterval: 25_000, pingTimeout: 20_000, maxPayload: 1_000_000 })}`,
  );
  ws.on("message", (data: Buffer) => {
    const text = data.toString();
    // "4" starts every socket.io packet. A "3" would be a pong, but this server sends no pings.
    if (text.startsWith("4")) onSocketIoPacket(ws, joined, text.slice(1));
  });
  ws.on("close", () => {
    for (const room of joined) rooms.get(room)?.delete(ws);
  });
});

serveCommands<ServerCommands>(parentEndpoint(), {
  publish: (spec) => {
    const pad = paddingFor(spec.id, spec.payloadBytes, stamp(monotonicMs()));
    const room = backtestRoom(spec.id);
    return publishOpenLoop(spec, (counter, dueAtMs) => {
      const frame = `42${NAMESPACE_PREFIX}${JSON.stringify(["progress", benchEvent(spec.id, counter, counter, { sentAt: stamp(dueAtMs), pad })])}`;
      for (const ws of rooms.get(room) ?? []) ws.send(frame);
      return true;
    });
  },
  gc: () => {
    collectGarbage();
    return null;
  },
});
httpServer.listen(port, "127.0.0.1", () => sendEvent(parentEndpoint(), "ready", { pid: process.pid }));
