import http from "node:http";
import type { AddressInfo } from "node:net";

import { Server, type Socket } from "socket.io";

import {
  BACKTEST_NAMESPACE,
  type BacktestResult,
  type BacktestSnapshot,
  type ClientToServerEvents,
  type ErrorReply,
  type ServerToClientEvents,
  type SubscribeReply,
} from "../../src/hubs/backtest-events";

export type HubSocket = Socket<ClientToServerEvents, ServerToClientEvents>;

export interface SubscribeCall {
  socket: HubSocket;
  id: string;
  /** 1 for the first subscribe to this id on this server, 2 for the next, and so on. */
  attempt: number;
  ack: (reply: SubscribeReply | ErrorReply) => void;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON body, or undefined when the request had none. */
  body: unknown;
}

export interface HttpReply {
  status: number;
  /** Sent as JSON unless it is a string. */
  body?: unknown;
  contentType?: string;
}

export interface StandInOptions {
  /** Scripted `/backtest` behaviour. Without it, subscribes get no acknowledgement. */
  onSubscribe?(call: SubscribeCall): void;
  /** Scripted REST behaviour. Without it, every request gets 404. A reply of undefined leaves the request hanging. */
  onHttpRequest?(request: RecordedRequest): HttpReply | undefined | Promise<HttpReply | undefined>;
}

/**
 * A scripted stand-in for Backplane's REST routes and `/backtest` hub on 127.0.0.1 and a port from the OS.
 * It records every subscribe, unsubscribe and REST request for assertions.
 */
export class StandInServer {
  readonly subscribes: Array<{ id: string; socketId: string }> = [];
  readonly unsubscribes: string[] = [];
  readonly requests: RecordedRequest[] = [];
  private readonly unsubscribeWaiters: Array<() => void> = [];
  private readonly hangingResponses = new Set<http.ServerResponse>();

  private constructor(
    private readonly httpServer: http.Server,
    readonly io: Server<ClientToServerEvents, ServerToClientEvents>,
  ) {}

  static async start(options: StandInOptions = {}): Promise<StandInServer> {
    const httpServer = http.createServer();
    const io = new Server<ClientToServerEvents, ServerToClientEvents>(httpServer);
    const server = new StandInServer(httpServer, io);

    // socket.io handles the /socket.io/ requests itself, so the REST handler skips them.
    httpServer.on("request", (request, response) => {
      if (!request.url?.startsWith("/socket.io/")) {
        void server.handleHttp(request, response, options);
      }
    });
    server.serveHub(options);

    await new Promise<void>((resolve, reject) => {
      httpServer.once("error", reject);
      httpServer.listen(0, "127.0.0.1", resolve);
    });
    return server;
  }

  get url(): string {
    const address = this.httpServer.address() as AddressInfo;
    return `http://127.0.0.1:${address.port}`;
  }

  /** Resolves once the server received `count` unsubscribes in all. */
  async waitForUnsubscribes(count: number): Promise<void> {
    while (this.unsubscribes.length < count) {
      await new Promise<void>((resolve) => this.unsubscribeWaiters.push(resolve));
    }
  }

  async close(): Promise<void> {
    for (const response of this.hangingResponses) {
      response.destroy();
    }
    // io.close() also closes the HTTP server, which waits for keep-alive connections unless they are cut.
    const closing = this.io.close();
    this.httpServer.closeAllConnections();
    await closing;
  }

  private serveHub(options: StandInOptions): void {
    const attempts = new Map<string, number>();

    this.io.of(BACKTEST_NAMESPACE).on("connection", (socket) => {
      socket.on("subscribe", (request, ack) => {
        const attempt = (attempts.get(request.id) ?? 0) + 1;
        attempts.set(request.id, attempt);
        this.subscribes.push({ id: request.id, socketId: socket.id });
        options.onSubscribe?.({ socket, id: request.id, attempt, ack });
      });
      socket.on("unsubscribe", (request) => {
        this.unsubscribes.push(request.id);
        for (const wake of this.unsubscribeWaiters.splice(0)) {
          wake();
        }
      });
    });
  }

  private async handleHttp(
    request: http.IncomingMessage,
    response: http.ServerResponse,
    options: StandInOptions,
  ): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) {
      chunks.push(chunk as Buffer);
    }
    const text = Buffer.concat(chunks).toString("utf8");
    const recorded: RecordedRequest = {
      method: request.method ?? "",
      path: request.url ?? "",
      headers: request.headers,
      body: text === "" ? undefined : JSON.parse(text),
    };
    this.requests.push(recorded);

    const reply =
      options.onHttpRequest === undefined ? { status: 404, body: "no route" } : await options.onHttpRequest(recorded);
    if (reply === undefined) {
      this.hangingResponses.add(response);
      return;
    }

    const isText = typeof reply.body === "string";
    const body = isText ? (reply.body as string) : JSON.stringify(reply.body ?? null);
    response.writeHead(reply.status, {
      "content-type": reply.contentType ?? (isText ? "text/plain" : "application/json"),
    });
    response.end(body);
  }
}

/** Builds a snapshot of job `id`, running with no progress unless overridden. */
export function makeSnapshot(id: string, overrides: Partial<BacktestSnapshot> = {}): BacktestSnapshot {
  return {
    id,
    state: "running",
    seq: 0,
    progress: { processed: 0, total: 100, percent: 0 },
    ...overrides,
  };
}

export function makeResult(finalEquity = 12_345.678): BacktestResult {
  return {
    stats: {
      Start: "2018-01-01 00:00:00",
      "Equity Final [$]": finalEquity,
      "Return [%]": 23.45678,
      "Sharpe Ratio": 0.81234,
      "Win Rate [%]": null,
      trades: 2,
    },
    trades: [
      {
        entryBar: 10,
        exitBar: 20,
        entryTime: "2018-01-01 10:00:00",
        exitTime: "2018-01-01 20:00:00",
        entryPrice: 100,
        exitPrice: 110,
        size: 1.5,
        pnl: 15,
        returnPct: 10,
      },
    ],
  };
}

/** Emits one progress event per seq, in the order given, for a job of 100 bars with one bar per seq. */
export function emitProgress(socket: HubSocket, id: string, seqs: number[]): void {
  for (const seq of seqs) {
    socket.emit("progress", { id, seq, processed: seq, total: 100, percent: seq });
  }
}
