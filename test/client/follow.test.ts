import { afterEach, describe, expect, test } from "vitest";

import {
  BacktestApiError,
  BacktestConnectionError,
  BacktestProtocolError,
  FollowStoppedError,
  createBacktestClient,
  type BacktestClient,
  type BacktestClientOptions,
  type Follow,
  type FollowHandlers,
  type ResyncReason,
} from "../../src/client/backtest-client";
import type {
  BacktestSnapshot,
  CancelledEvent,
  CompletedEvent,
  FailedEvent,
  ProgressEvent,
} from "../../src/hubs/backtest-events";
import {
  StandInServer,
  emitProgress,
  makeResult,
  makeSnapshot,
  type HubSocket,
  type StandInOptions,
  type SubscribeCall,
} from "./stand-in-server";

const JOB = "job-1";
/** A second job whose `cancelled` event, sent last, proves that the client processed every earlier event. */
const BARRIER = "barrier";

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup();
  }
});

async function startServer(onJobSubscribe: (call: SubscribeCall) => void, options: StandInOptions = {}) {
  const server = await StandInServer.start({
    ...options,
    onSubscribe(call) {
      if (call.id === BARRIER) {
        call.ack({ snapshot: makeSnapshot(BARRIER), worker: "stand-in/1" });
        return;
      }
      onJobSubscribe(call);
    },
  });
  cleanups.push(() => server.close());
  return server;
}

function startClient(server: StandInServer, options: Partial<BacktestClientOptions> = {}): BacktestClient {
  const client = createBacktestClient({
    url: server.url,
    transports: ["websocket"],
    ackTimeoutMs: 1_000,
    subscribeRetryDelayMs: 20,
    socketOptions: { reconnectionDelay: 20, reconnectionDelayMax: 100 },
    ...options,
  });
  cleanups.push(() => client.close());
  return client;
}

/** Handlers that record every call, with promises for the first progress and snapshot. */
function recordHandlers() {
  const calls = {
    snapshots: [] as BacktestSnapshot[],
    progress: [] as ProgressEvent[],
    completed: [] as CompletedEvent[],
    failed: [] as FailedEvent[],
    cancelled: [] as CancelledEvent[],
    resyncs: [] as ResyncReason[],
    errors: [] as Error[],
  };
  let markProgress!: () => void;
  const firstProgress = new Promise<void>((resolve) => {
    markProgress = resolve;
  });

  const handlers: FollowHandlers = {
    onSnapshot: (snapshot) => calls.snapshots.push(snapshot),
    onProgress: (event) => {
      calls.progress.push(event);
      markProgress();
    },
    onCompleted: (event) => calls.completed.push(event),
    onFailed: (event) => calls.failed.push(event),
    onCancelled: (event) => calls.cancelled.push(event),
    onResync: (reason) => calls.resyncs.push(reason),
    onError: (error) => calls.errors.push(error),
  };
  return { calls, handlers, firstProgress };
}

/** Follows the barrier job and resolves once its first snapshot arrived. */
async function followBarrier(client: BacktestClient): Promise<Follow> {
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const follow = client.follow(BARRIER, { onSnapshot: () => markReady() });
  await ready;
  return follow;
}

/** Sends the barrier's terminal event after everything already emitted on `socket`, and waits for it. */
async function passBarrier(barrier: Follow, socket: HubSocket): Promise<void> {
  socket.emit("cancelled", { id: BARRIER, seq: 1 });
  await barrier.done;
}

function seqs(events: Array<{ seq: number }>): number[] {
  return events.map((event) => event.seq);
}

describe("follow ordering", () => {
  test("duplicate events are skipped", async () => {
    const server = await startServer(({ socket, ack }) => {
      ack({ snapshot: makeSnapshot(JOB, { state: "queued" }), worker: "stand-in/1" });
      emitProgress(socket, JOB, [1, 2, 2, 1, 3]);
      socket.emit("completed", { id: JOB, seq: 4, result: makeResult() });
    });
    const client = startClient(server);
    const { calls, handlers } = recordHandlers();

    const follow = client.follow(JOB, handlers);
    const final = await follow.done;

    expect(seqs(calls.progress)).toEqual([1, 2, 3]);
    expect(follow.counters.duplicatesSkipped).toBe(2);
    expect(follow.counters.resyncs).toBe(0);
    expect(calls.completed).toHaveLength(1);
    expect(final.state).toBe("completed");
    expect(final.seq).toBe(4);
    expect(final.progress).toEqual({ processed: 3, total: 100, percent: 3 });
    expect(final.result).toEqual(makeResult());
    expect(follow.worker).toBe("stand-in/1");
    expect(client.worker).toBe("stand-in/1");
  });

  test("events before the acknowledgement are merged with the snapshot", async () => {
    // The server may send room events between joining the room and acknowledging the subscribe.
    const server = await startServer(({ socket, ack }) => {
      emitProgress(socket, JOB, [1, 2, 3]);
      ack({ snapshot: makeSnapshot(JOB, { seq: 2, progress: { processed: 2, total: 100, percent: 2 } }), worker: "w" });
      socket.emit("completed", { id: JOB, seq: 4, result: makeResult() });
    });
    const client = startClient(server);
    const { calls, handlers } = recordHandlers();

    const follow = client.follow(JOB, handlers);
    await follow.done;

    expect(seqs(calls.snapshots)).toEqual([2]);
    expect(seqs(calls.progress)).toEqual([3]);
    expect(follow.counters.duplicatesSkipped).toBe(2);
    expect(follow.counters.resyncs).toBe(0);
    expect(calls.completed).toHaveLength(1);
  });

  test("gap triggers a resync", async () => {
    const server = await startServer(({ socket, ack, attempt }) => {
      if (attempt === 1) {
        ack({ snapshot: makeSnapshot(JOB), worker: "w" });
        emitProgress(socket, JOB, [1, 3]);
        return;
      }
      ack({ snapshot: makeSnapshot(JOB, { seq: 3, progress: { processed: 3, total: 100, percent: 3 } }), worker: "w" });
      socket.emit("completed", { id: JOB, seq: 4, result: makeResult() });
    });
    const client = startClient(server);
    const { calls, handlers } = recordHandlers();

    const follow = client.follow(JOB, handlers);
    const final = await follow.done;

    expect(server.subscribes.filter((call) => call.id === JOB)).toHaveLength(2);
    expect(follow.counters.resyncs).toBe(1);
    expect(follow.counters.reconnects).toBe(0);
    expect(calls.resyncs).toEqual(["gap"]);
    expect(seqs(calls.snapshots)).toEqual([0, 3]);
    // Event 3 arrived before the second snapshot, which already contains it.
    expect(seqs(calls.progress)).toEqual([1]);
    expect(follow.counters.duplicatesSkipped).toBe(1);
    expect(calls.completed).toHaveLength(1);
    expect(final.seq).toBe(4);
  });

  test("gap a new snapshot cannot close is applied", async () => {
    // Regression guard: a snapshot that lags behind the events must not make the client resubscribe forever.
    const server = await startServer(({ socket, ack, attempt }) => {
      if (attempt === 1) {
        ack({ snapshot: makeSnapshot(JOB), worker: "w" });
        emitProgress(socket, JOB, [1, 3]);
        return;
      }
      ack({ snapshot: makeSnapshot(JOB, { seq: 1, progress: { processed: 1, total: 100, percent: 1 } }), worker: "w" });
      socket.emit("completed", { id: JOB, seq: 4, result: makeResult() });
    });
    const client = startClient(server);
    const { calls, handlers } = recordHandlers();

    const follow = client.follow(JOB, handlers);
    await follow.done;

    expect(server.subscribes.filter((call) => call.id === JOB)).toHaveLength(2);
    expect(follow.counters.resyncs).toBe(1);
    expect(seqs(calls.progress)).toEqual([1, 3]);
    expect(calls.errors).toHaveLength(1);
    expect(calls.errors[0]).toBeInstanceOf(BacktestProtocolError);
    expect(calls.errors[0]?.message).toContain("events 2 to 2 are missing");
    expect(calls.completed).toHaveLength(1);
  });

  test("events of other jobs are not delivered", async () => {
    const server = await startServer(({ socket, ack, id }) => {
      ack({ snapshot: makeSnapshot(id), worker: "w" });
      if (id === "job-b") {
        // Both follows share one socket, so each receives the other job's events and must ignore them.
        emitProgress(socket, "job-a", [1]);
        emitProgress(socket, "job-b", [1, 2]);
        socket.emit("completed", { id: "job-a", seq: 2, result: makeResult(1) });
        socket.emit("failed", { id: "job-b", seq: 3, error: { code: "internal", message: "engine crashed" } });
      }
    });
    const client = startClient(server);
    const a = recordHandlers();
    const b = recordHandlers();

    // The server acknowledges job-a before it handles job-b's subscribe, which sends the events.
    const followA = client.follow("job-a", a.handlers);
    const followB = client.follow("job-b", b.handlers);
    await Promise.all([followA.done, followB.done]);

    expect(seqs(a.calls.progress)).toEqual([1]);
    expect(seqs(b.calls.progress)).toEqual([1, 2]);
    expect(a.calls.completed).toHaveLength(1);
    expect(a.calls.failed).toHaveLength(0);
    expect(b.calls.completed).toHaveLength(0);
    expect(b.calls.failed.map((event) => event.error.message)).toEqual(["engine crashed"]);
  });
});

describe("follow sweep fields", () => {
  test("keeps best, openTrades and sweep", async () => {
    const best = [{ index: 3, params: { fast: 5, slow: 20 }, stats: { "Return [%]": 12.5, "Sharpe Ratio": null } }];
    const openTrades = [{ entryBar: 90, entryTime: "2018-04-01T00:00:00Z", entryPrice: 101.5, size: 2, openPnl: 3 }];
    const sweep = { combinations: 12, ranking: best };
    const server = await startServer(({ socket, ack }) => {
      ack({ snapshot: makeSnapshot(JOB, { state: "running" }), worker: "stand-in/1" });
      socket.emit("progress", { id: JOB, seq: 1, processed: 6, total: 12, percent: 50, best });
      socket.emit("completed", { id: JOB, seq: 2, result: { ...makeResult(), openTrades, sweep } as never });
    });
    const client = startClient(server);
    const { calls, handlers } = recordHandlers();

    const follow = client.follow(JOB, handlers);
    const final = await follow.done;

    expect(calls.progress[0]?.best).toEqual(best);
    expect(final.best).toEqual(best);
    expect(final.result?.openTrades).toEqual(openTrades);
    expect(final.result?.sweep).toEqual(sweep);
  });
});

describe("follow terminal state", () => {
  test("terminal snapshot fires its handler once", async () => {
    const error = { code: "internal" as const, message: "dataset file is corrupt" };
    const server = await startServer(({ ack }) => {
      ack({ snapshot: makeSnapshot(JOB, { state: "failed", seq: 7, error }), worker: "w" });
    });
    const client = startClient(server);
    const { calls, handlers } = recordHandlers();

    const final = await client.follow(JOB, handlers).done;

    expect(calls.failed).toEqual([{ id: JOB, seq: 7, error }]);
    expect(calls.completed).toHaveLength(0);
    expect(final.state).toBe("failed");
  });

  test("terminal handler never fires twice", async () => {
    let jobSocket: HubSocket | undefined;
    const server = await startServer(({ socket, ack }) => {
      jobSocket = socket;
      ack({ snapshot: makeSnapshot(JOB), worker: "w" });
      socket.emit("completed", { id: JOB, seq: 1, result: makeResult() });
      // Everything after the first terminal event must be ignored, whatever its seq.
      socket.emit("completed", { id: JOB, seq: 1, result: makeResult() });
      socket.emit("completed", { id: JOB, seq: 2, result: makeResult() });
      socket.emit("cancelled", { id: JOB, seq: 3 });
      socket.emit("failed", { id: JOB, seq: 4, error: { code: "internal", message: "late" } });
    });
    const client = startClient(server);
    const barrier = await followBarrier(client);
    const { calls, handlers } = recordHandlers();

    const follow = client.follow(JOB, handlers);
    await follow.done;
    await passBarrier(barrier, jobSocket!);

    expect(calls.completed).toHaveLength(1);
    expect(calls.cancelled).toHaveLength(0);
    expect(calls.failed).toHaveLength(0);
  });

  test("terminal event and snapshot during a resync fire once", async () => {
    let jobSocket: HubSocket | undefined;
    const server = await startServer(({ socket, ack, attempt }) => {
      jobSocket = socket;
      if (attempt === 1) {
        ack({ snapshot: makeSnapshot(JOB), worker: "w" });
        emitProgress(socket, JOB, [2]);
        return;
      }
      // The completed event reaches the client while its resync is in flight, then the snapshot repeats it.
      socket.emit("completed", { id: JOB, seq: 3, result: makeResult() });
      ack({ snapshot: makeSnapshot(JOB, { state: "completed", seq: 3, result: makeResult() }), worker: "w" });
      socket.emit("completed", { id: JOB, seq: 3, result: makeResult() });
    });
    const client = startClient(server);
    const barrier = await followBarrier(client);
    const { calls, handlers } = recordHandlers();

    const follow = client.follow(JOB, handlers);
    const final = await follow.done;
    await passBarrier(barrier, jobSocket!);

    expect(follow.counters.resyncs).toBe(1);
    expect(calls.completed).toHaveLength(1);
    expect(final.state).toBe("completed");
    expect(final.seq).toBe(3);
  });

  test("done resolves after onCompleted with the result", async () => {
    const server = await startServer(({ socket, ack }) => {
      ack({ snapshot: makeSnapshot(JOB), worker: "w" });
      socket.emit("completed", { id: JOB, seq: 1, result: makeResult(99) });
    });
    const client = startClient(server);
    const order: string[] = [];

    const follow = client.follow(JOB, { onCompleted: () => order.push("onCompleted") });
    const final = await follow.done;
    order.push("done");

    expect(order).toEqual(["onCompleted", "done"]);
    expect(final.result?.stats["Equity Final [$]"]).toBe(99);
    await server.waitForUnsubscribes(1);
    expect(server.unsubscribes).toEqual([JOB]);
  });
});

describe.each(["websocket", "polling"] as const)("follow reconnect over %s", (transport) => {
  test("resubscribes and takes the terminal snapshot", async () => {
    const sockets: HubSocket[] = [];
    const server = await startServer(({ socket, ack, attempt }) => {
      sockets.push(socket);
      if (attempt === 1) {
        ack({ snapshot: makeSnapshot(JOB), worker: "stand-in/1" });
        emitProgress(socket, JOB, [1]);
        return;
      }
      // The job completed while the client was away: only the snapshot can tell it.
      ack({ snapshot: makeSnapshot(JOB, { state: "completed", seq: 5, result: makeResult() }), worker: "stand-in/2" });
      socket.emit("completed", { id: JOB, seq: 5, result: makeResult() });
    });
    const client = startClient(server, { transports: [transport] });
    const barrier = await followBarrier(client);
    const { calls, handlers, firstProgress } = recordHandlers();

    const follow = client.follow(JOB, handlers);
    await firstProgress;
    // Closing the transport, unlike socket.disconnect(), makes socket.io reconnect by itself.
    sockets[0]!.conn.close();
    const final = await follow.done;
    await passBarrier(barrier, sockets[1]!);

    expect(sockets).toHaveLength(2);
    expect(sockets[1]!.id).not.toBe(sockets[0]!.id);
    expect(follow.counters.reconnects).toBe(1);
    expect(follow.counters.resyncs).toBe(0);
    expect(calls.resyncs).toEqual(["reconnect"]);
    expect(seqs(calls.snapshots)).toEqual([0, 5]);
    expect(calls.completed).toEqual([{ id: JOB, seq: 5, result: makeResult() }]);
    expect(final.state).toBe("completed");
    expect(follow.worker).toBe("stand-in/2");
    expect(client.worker).toBe("stand-in/2");
  });
});

describe("follow subscribe failures", () => {
  test("rejected subscribe rejects done", async () => {
    const server = await startServer(({ ack }) => {
      ack({ error: { code: "not_found", message: "backtest job-1 not found" } });
    });
    const client = startClient(server);
    const { calls, handlers } = recordHandlers();

    const error: unknown = await client.follow(JOB, handlers).done.catch((thrown: unknown) => thrown);

    expect(error).toBeInstanceOf(BacktestApiError);
    expect((error as BacktestApiError).status).toBe(404);
    expect((error as BacktestApiError).code).toBe("not_found");
    expect(calls.errors).toEqual([error]);
  });

  test("unavailable subscribe is retried", async () => {
    const server = await startServer(({ ack, attempt }) => {
      if (attempt === 1) {
        ack({ error: { code: "unavailable", message: "snapshot store is down" } });
        return;
      }
      ack({ snapshot: makeSnapshot(JOB, { state: "cancelled", seq: 2 }), worker: "w" });
    });
    const client = startClient(server);
    const { calls, handlers } = recordHandlers();

    const final = await client.follow(JOB, handlers).done;

    expect(final.state).toBe("cancelled");
    expect(calls.cancelled).toEqual([{ id: JOB, seq: 2 }]);
    expect(calls.errors.map((error) => (error as BacktestApiError).code)).toEqual(["unavailable"]);
  });

  test("unavailable subscribe fails after the retries", async () => {
    const server = await startServer(({ ack }) => {
      ack({ error: { code: "unavailable", message: "snapshot store is down" } });
    });
    const client = startClient(server, { maxSubscribeRetries: 2 });

    const error: unknown = await client.follow(JOB).done.catch((thrown: unknown) => thrown);

    expect(error).toBeInstanceOf(BacktestApiError);
    expect((error as Error).message).toContain("failed 3 times in a row");
    expect(server.subscribes).toHaveLength(3);
  });

  test("missing acknowledgement resubscribes", async () => {
    const server = await startServer(({ ack, attempt }) => {
      if (attempt > 1) {
        ack({ snapshot: makeSnapshot(JOB, { state: "completed", seq: 1, result: makeResult() }), worker: "w" });
      }
    });
    const client = startClient(server, { ackTimeoutMs: 200 });
    const { calls, handlers } = recordHandlers();

    const follow = client.follow(JOB, handlers);
    await follow.done;

    expect(follow.counters.resyncs).toBe(1);
    expect(calls.resyncs).toEqual(["ack_timeout"]);
    expect(calls.completed).toHaveLength(1);
  });

  test("malformed event fails its follow", async () => {
    const server = await startServer(({ socket, ack }) => {
      ack({ snapshot: makeSnapshot(JOB), worker: "w" });
      // @ts-expect-error a server of another version could send seq as a string
      socket.emit("progress", { id: JOB, seq: "1", processed: 1, total: 100, percent: 1 });
    });
    const client = startClient(server);

    const error: unknown = await client.follow(JOB).done.catch((thrown: unknown) => thrown);

    expect(error).toBeInstanceOf(BacktestProtocolError);
    expect((error as Error).message).toContain("invalid progress event");
  });

  test("server namespace disconnect fails the follow", async () => {
    const server = await startServer(({ socket, ack }) => {
      ack({ snapshot: makeSnapshot(JOB), worker: "w" });
      // A namespace disconnect from the server is final: socket.io clients do not reconnect after it.
      socket.disconnect(true);
    });
    const client = startClient(server);

    const error: unknown = await client.follow(JOB).done.catch((thrown: unknown) => thrown);

    expect(error).toBeInstanceOf(BacktestConnectionError);
    expect((error as Error).message).toBe(
      `cannot reach Backplane at ${server.url}: the server closed the socket.io connection`,
    );
  });

  test("throwing handler rejects done", async () => {
    const server = await startServer(({ socket, ack }) => {
      ack({ snapshot: makeSnapshot(JOB), worker: "w" });
      emitProgress(socket, JOB, [1, 2]);
    });
    const client = startClient(server);
    const progressSeen: number[] = [];

    const follow = client.follow(JOB, {
      onProgress(event) {
        progressSeen.push(event.seq);
        throw new Error("chart is gone");
      },
    });
    const error: unknown = await follow.done.catch((thrown: unknown) => thrown);

    expect((error as Error).message).toBe("chart is gone");
    expect(progressSeen).toEqual([1]);
  });
});

describe("follow stop", () => {
  test("unsubscribe leaves the room and rejects done", async () => {
    let markSubscribed!: () => void;
    const subscribed = new Promise<void>((resolve) => {
      markSubscribed = resolve;
    });
    const server = await startServer(({ ack }) => {
      ack({ snapshot: makeSnapshot(JOB), worker: "w" });
      markSubscribed();
    });
    const client = startClient(server);

    const follow = client.follow(JOB);
    await subscribed;
    follow.unsubscribe();
    const error: unknown = await follow.done.catch((thrown: unknown) => thrown);
    await server.waitForUnsubscribes(1);

    expect(error).toBeInstanceOf(FollowStoppedError);
    expect(server.unsubscribes).toEqual([JOB]);
  });

  test("room is kept while another follow watches the job", async () => {
    const server = await startServer(({ ack }) => {
      ack({ snapshot: makeSnapshot(JOB), worker: "w" });
    });
    const client = startClient(server);
    const barrier = await followBarrier(client);

    const first = client.follow(JOB);
    const second = client.follow(JOB);
    first.unsubscribe();
    barrier.unsubscribe();
    await server.waitForUnsubscribes(1);

    expect(server.unsubscribes).toEqual([BARRIER]);
    second.unsubscribe();
    await server.waitForUnsubscribes(2);
    expect(server.unsubscribes).toEqual([BARRIER, JOB]);
  });

  test("close rejects every follow", async () => {
    const server = await startServer(({ ack }) => {
      ack({ snapshot: makeSnapshot(JOB), worker: "w" });
    });
    const client = startClient(server);
    const follow = client.follow(JOB);

    client.close();
    const error: unknown = await follow.done.catch((thrown: unknown) => thrown);

    expect(error).toBeInstanceOf(FollowStoppedError);
    expect(() => client.follow(JOB)).toThrow(FollowStoppedError);
  });
});
