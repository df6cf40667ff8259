/**
 * Requests, replies and events between the benchmark's coordinator and the processes it starts
 * (load generators, servers, publishers), over Node's IPC channels. The same channels carry the
 * cluster adapter's and the sticky balancer's messages, so every message of ours carries a source
 * tag and anything else is ignored.
 */

export const BENCH_SOURCE = "backplane-bench";

interface RequestMessage {
  source: typeof BENCH_SOURCE;
  type: "request";
  id: number;
  command: string;
  args: unknown;
}

interface ReplyMessage {
  source: typeof BENCH_SOURCE;
  type: "reply";
  id: number;
  result?: unknown;
  /** Set instead of `result` when the handler threw. */
  error?: string;
}

interface EventMessage {
  source: typeof BENCH_SOURCE;
  type: "event";
  name: string;
  data: unknown;
}

export type BenchMessage = RequestMessage | ReplyMessage | EventMessage;

/** A process, child process or cluster worker at the other end of an IPC channel. */
export interface Endpoint {
  send(message: BenchMessage): unknown;
  on(event: "message", listener: (message: unknown) => void): unknown;
  off(event: "message", listener: (message: unknown) => void): unknown;
}

/** Commands a process serves: each name maps to its argument and result types. */
export type CommandsOf<C> = { [K in keyof C]: { args: unknown; result: unknown } };
type Args<C, K extends keyof C> = C[K] extends { args: infer A } ? A : never;
type Result<C, K extends keyof C> = C[K] extends { result: infer R } ? R : never;

export function isBenchMessage(value: unknown): value is BenchMessage {
  if (typeof value !== "object" || value === null) return false;
  const record = value as Record<string, unknown>;
  return record["source"] === BENCH_SOURCE && typeof record["type"] === "string";
}

/** Returns the current process's channel to its parent; throws when it was not started with one. */
export function parentEndpoint(): Endpoint {
  const send = process.send?.bind(process);
  if (send === undefined) throw new Error("this process has no IPC channel: start it with child_process.fork");
  return {
    send: (message) => send(message),
    on: (event, listener) => process.on(event, listener),
    off: (event, listener) => process.off(event, listener),
  };
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** Sends typed requests to one endpoint and matches the replies. */
export class Requester<C extends CommandsOf<C>> {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listener = (message: unknown): void => this.onMessage(message);

  constructor(
    private readonly endpoint: Endpoint,
    /** Name of the other end, for error messages. */
    private readonly peer: string,
  ) {
    endpoint.on("message", this.listener);
  }

  request<K extends keyof C & string>(command: K, args: Args<C, K>, timeoutMs = 120_000): Promise<Result<C, K>> {
    const id = this.nextId++;
    return new Promise<Result<C, K>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new Error(`${this.peer} sent no reply to "${command}" within ${timeoutMs} ms; its output above may say why`),
        );
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve, reject, timer });
      this.endpoint.send({ source: BENCH_SOURCE, type: "request", id, command, args });
    });
  }

  /** Rejects every request still waiting, for example when the other process exited. */
  failAll(reason: string): void {
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new Error(`${this.peer}: ${reason}`));
      this.pending.delete(id);
    }
  }

  dispose(): void {
    this.endpoint.off("message", this.listener);
    this.failAll("requester disposed");
  }

  private onMessage(message: unknown): void {
    if (!isBenchMessage(message) || message.type !== "reply") return;
    const pending = this.pending.get(message.id);
    if (pending === undefined) return;
    this.pending.delete(message.id);
    clearTimeout(pending.timer);
    if (message.error !== undefined) pending.reject(new Error(`${this.peer}: ${message.error}`));
    else pending.resolve(message.result);
  }
}

export type Handlers<C extends CommandsOf<C>> = {
  [K in keyof C]: (args: Args<C, K>) => Promise<Result<C, K>> | Result<C, K>;
};

/** Serves the requests arriving on `endpoint` with `handlers`; an unknown command gets an error reply. */
export function serveCommands<C extends CommandsOf<C>>(endpoint: Endpoint, handlers: Handlers<C>): void {
  endpoint.on("message", (message: unknown) => {
    if (!isBenchMessage(message) || message.type !== "request") return;
    const { id, command, args } = message;
    const handler = (handlers as Record<string, ((args: unknown) => unknown) | undefined>)[command];
    if (handler === undefined) {
      endpoint.send({ source: BENCH_SOURCE, type: "reply", id, error: `unknown command "${command}"` });
      return;
    }
    Promise.resolve()
      .then(() => handler(args))
      .then(
        (result) => endpoint.send({ source: BENCH_SOURCE, type: "reply", id, result }),
        (err: unknown) => endpoint.send({ source: BENCH_SOURCE, type: "reply", id, error: describeError(err) }),
      );
  });
}

export function sendEvent(endpoint: Endpoint, name: string, data: unknown): void {
  endpoint.send({ source: BENCH_SOURCE, type: "event", name, data });
}

/** Resolves with the data of the next event `name` from `endpoint`. */
export function waitForEvent<T>(endpoint: Endpoint, name: string, timeoutMs: number, peer: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const listener = (message: unknown): void => {
      if (!isBenchMessage(message) || message.type !== "event" || message.name !== name) return;
      clearTimeout(timer);
      endpoint.off("message", listener);
      resolve(message.data as T);
    };
    const timer = setTimeout(() => {
      endpoint.off("message", listener);
      reject(new Error(`${peer} did not send "${name}" within ${timeoutMs} ms`));
    }, timeoutMs);
    endpoint.on("message", listener);
  });
}

export function describeError(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
