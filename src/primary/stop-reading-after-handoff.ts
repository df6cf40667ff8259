import type { Server } from "node:http";
import type { Socket } from "node:net";

/** The libuv stream handle behind a net.Socket, which Node keeps private. */
interface StreamHandle {
  reading?: boolean;
  readStop(): number;
}

/** The private field of a net.Socket that contains its handle. Node sets it to null on handoff. */
interface SocketWithHandle {
  _handle: StreamHandle | null;
}

/**
 * Stops the primary from reading a connection once the sticky balancer has handed it to a web
 * worker, so that bytes sent after the request reach the worker instead of being dropped.
 *
 * The balancer (@socket.io/sticky 2.0.1) hands over a request without a body (any GET, and so
 * every WebSocket upgrade) with `worker.send(message, socket)` while the primary still reads the
 * socket. Node 20 then detaches the handle, sets its read callback to a no-op and closes it only
 * when the worker acknowledges the handoff. Until then the primary and the worker both read the same file
 * descriptor, and whatever the primary reads is lost. On a 2-core machine, 32 of 450 WebSocket
 * clients connected one after another lost their first message.
 *
 * Must be called after the balancer is set up, so that this data listener runs after the
 * balancer's, which detaches the handle while handling the first chunk.
 *
 * NOTE: while a handoff to one worker waits for its acknowledgement, Node queues the next handoff
 * to that worker and detaches its handle only later, after this listener has run. Such a
 * connection can still lose bytes.
 */
export function stopReadingAfterHandoff(server: Server): void {
  server.on("connection", (socket: Socket) => {
    const handle = handleOf(socket);
    if (handle === null) return;

    socket.on("data", () => {
      if (handleOf(socket) !== null || handle.reading === false) return;
      handle.reading = false;
      handle.readStop();
    });
  });
}

function handleOf(socket: Socket): StreamHandle | null {
  return (socket as unknown as SocketWithHandle)._handle;
}
