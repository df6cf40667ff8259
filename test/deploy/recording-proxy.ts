import http from "node:http";
import net from "node:net";

/** One request that passed the proxy: an HTTP request, or the request that opened a WebSocket. */
export interface ProxiedRequest {
  method: string;
  /** Path and query, e.g. `/socket.io/?EIO=4&transport=polling&t=…`. */
  url: string;
  upgrade: boolean;
}

/**
 * An HTTP proxy on 127.0.0.1 in front of one server on 127.0.0.1, which records every request line, so that a
 * test can see which socket.io transports a client used. WebSocket upgrades are forwarded as raw TCP after the
 * request head.
 */
export class RecordingProxy {
  readonly requests: ProxiedRequest[] = [];
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: http.Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<RecordingProxy> {
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const address = server.address();
    if (typeof address !== "object" || address === null) throw new Error("the recording proxy got no port");

    const proxy = new RecordingProxy(server, address.port);
    server.on("connection", (socket) => proxy.track(socket));
    server.on("request", (request, response) => proxy.forwardRequest(targetPort, request, response));
    server.on("upgrade", (request, socket, head) =>
      proxy.forwardUpgrade(targetPort, request, socket as net.Socket, head),
    );
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Returns the transport named in the query of each socket.io request, in order. */
  socketIoTransports(): string[] {
    return this.requests
      .filter((request) => request.url.startsWith("/socket.io/"))
      .map((request) => new URL(request.url, "http://proxy").searchParams.get("transport") ?? "(none)");
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
  }

  private forwardRequest(targetPort: number, request: http.IncomingMessage, response: http.ServerResponse): void {
    this.requests.push({ method: request.method ?? "", url: request.url ?? "", upgrade: false });
    const upstream = http.request(
      {
        host: "127.0.0.1",
        port: targetPort,
        method: request.method,
        path: request.url,
        headers: request.headers,
        agent: false,
      },
      (reply) => {
        response.writeHead(reply.statusCode ?? 502, reply.headers);
        reply.pipe(response);
      },
    );
    upstream.once("error", () => response.destroy());
    request.pipe(upstream);
  }

  private forwardUpgrade(targetPort: number, request: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    this.requests.push({ method: request.method ?? "", url: request.url ?? "", upgrade: true });
    const upstream = net.connect(targetPort, "127.0.0.1");
    this.track(upstream);

    // The request head is written again as received; the server completes the upgrade itself.
    const headerLines: string[] = [];
    for (let index = 0; index + 1 < request.rawHeaders.length; index += 2) {
      headerLines.push(`${request.rawHeaders[index]}: ${request.rawHeaders[index + 1]}`);
    }
    upstream.write(
      `${request.method} ${request.url} HTTP/${request.httpVersion}\r\n${headerLines.join("\r\n")}\r\n\r\n`,
    );
    if (head.length > 0) upstream.write(head);

    upstream.pipe(socket);
    socket.pipe(upstream);
    upstream.once("error", () => socket.destroy());
    socket.once("error", () => upstream.destroy());
  }
}
