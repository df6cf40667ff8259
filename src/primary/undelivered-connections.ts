import type { ChildProcess } from "node:child_process";

/**
 * The parts of Node's ChildProcess that contain connections still on their way to the child: the
 * handle sent last, kept until the child acknowledges it, and the messages queued behind it.
 */
interface HandleQueues {
  _pendingMessage?: { handle?: unknown } | null;
  _handleQueue?: { handle?: unknown }[] | null;
}

/**
 * Closes the connections that the sticky balancer passed to a web worker that died before
 * taking them, and returns how many it closed.
 *
 * The balancer (@socket.io/sticky 2.0.1) hands a connection whose request has no body, such as a
 * long-polling GET or a WebSocket upgrade, to a worker with `worker.send(message, socket)`. Node
 * keeps the primary's copy of the socket open until the worker acknowledges it. When the worker
 * dies first, Node 20 never closes that copy. The client then waits on a request that is never
 * answered: a long-polling client stalls until socket.io's ping timeout (25 s + 20 s by default).
 *
 * NOTE: this reads two private fields of Node's ChildProcess (`_pendingMessage` and
 * `_handleQueue`, as in Node 20's lib/internal/child_process.js), and closes nothing on a Node
 * without them. A request with a body stays in the primary, which forwards it to the worker over
 * IPC, and the balancer does not close it either when that worker dies; this does not reach it.
 */
export function closeUndeliveredConnections(child: ChildProcess): number {
  const queues = child as ChildProcess & HandleQueues;
  const handles = [queues._pendingMessage?.handle, ...(queues._handleQueue ?? []).map((queued) => queued.handle)];

  let closed = 0;
  for (const handle of handles) {
    // A queued message still contains the net.Socket, and the pending one its raw TCP handle.
    if (hasMethod(handle, "destroy")) handle.destroy();
    else if (hasMethod(handle, "close")) handle.close();
    else continue;
    closed += 1;
  }
  return closed;
}

function hasMethod<Name extends string>(value: unknown, name: Name): value is Record<Name, () => void> {
  return typeof value === "object" && value !== null && typeof (value as Record<string, unknown>)[name] === "function";
}
