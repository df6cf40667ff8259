import { fork, type ChildProcess } from "node:child_process";
import net from "node:net";
import path from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { closeUndeliveredConnections } from "../../src/primary/undelivered-connections";

const IDLE_CHILD = path.join(__dirname, "fixtures/idle-child.cjs");

/**
 * Regression: a connection that the primary passed to a web worker which died before taking it
 * stayed open in the primary, and the client waited for a reply until socket.io's ping timeout.
 */
describe("connection handed to a child that died", () => {
  const cleanups: (() => void)[] = [];

  afterEach(() => {
    for (const cleanup of cleanups.splice(0).reverse()) cleanup();
  });

  it("closes the connection the child never took", async () => {
    // A client connection accepted by this process, as the primary accepts one.
    const server = net.createServer();
    cleanups.push(() => server.close());
    const accepted = new Promise<net.Socket>((resolve) => server.once("connection", resolve));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as net.AddressInfo).port;
    const client = net.connect(port, "127.0.0.1");
    cleanups.push(() => client.destroy());
    const clientClosed = new Promise<void>((resolve) => client.once("close", () => resolve()));
    client.on("error", () => undefined);
    const socket = await accepted;

    const child = await startIdleChild();
    cleanups.push(() => child.kill("SIGKILL"));

    // Stopped, the child cannot acknowledge the handle, so it dies before taking the connection.
    process.kill(child.pid as number, "SIGSTOP");
    child.send({ type: "connection" }, socket);
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGKILL");
    await exited;

    expect(closeUndeliveredConnections(child)).toBe(1);
    await withTimeout(clientClosed, 5_000, "the client connection to close");
  });

  it("closes nothing for a child that took every connection", async () => {
    const child = await startIdleChild();
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGKILL");
    await exited;

    expect(closeUndeliveredConnections(child)).toBe(0);
  });
});

async function startIdleChild(): Promise<ChildProcess> {
  const child = fork(IDLE_CHILD, [], { execArgv: [], stdio: ["ignore", "ignore", "ignore", "ipc"] });
  await withTimeout(
    new Promise<void>((resolve) => child.once("message", () => resolve())),
    10_000,
    "the child to start",
  );
  return child;
}

async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
