import { io, type Socket } from "socket.io-client";

import type {
  BacktestEvent,
  ClientToServerEvents,
  ErrorReply,
  ServerToClientEvents,
  SubscribeReply,
} from "../../src/hubs/backtest-events";

export type HubSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
export type Transport = "polling" | "websocket";

/** Connects a raw socket.io client to `/backtest`, resolving once connected. */
export async function connectHub(url: string, transports?: Transport[]): Promise<HubSocket> {
  const socket: HubSocket = io(`${url}/backtest`, {
    transports: transports ?? ["polling", "websocket"],
    reconnection: false,
    forceNew: true,
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("connect_error", (err) => reject(err));
  });
  return socket;
}

export async function subscribe(socket: HubSocket, id: string): Promise<SubscribeReply | ErrorReply> {
  return new Promise((resolve, reject) => {
    socket.timeout(10_000).emit("subscribe", { id }, (err: Error | null, reply: SubscribeReply | ErrorReply) => {
      if (err) reject(err);
      else resolve(reply);
    });
  });
}

/**
 * Records every hub event a raw socket receives, without deduplication, so tests can prove
 * that each event arrived exactly once.
 */
export function recordEvents(socket: HubSocket): BacktestEvent[] {
  const events: BacktestEvent[] = [];
  socket.on("progress", (event) => events.push({ type: "progress", ...event }));
  socket.on("completed", (event) => events.push({ type: "completed", ...event }));
  socket.on("failed", (event) => events.push({ type: "failed", ...event }));
  socket.on("cancelled", (event) => events.push({ type: "cancelled", ...event }));
  return events;
}

export async function postJson(
  url: string,
  body: unknown,
): Promise<{ status: number; body: unknown; worker: string | null }> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json(), worker: response.headers.get("x-backplane-worker") };
}

export async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.json() };
}

/** Polls until `check` returns true, or fails after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  await eventually(async () => ((await check()) ? true : undefined), timeoutMs, what);
}

/** Polls until `check` returns a value, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
