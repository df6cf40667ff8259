/** The commands a load generator process serves, with their arguments and results. */
import type { HistogramData } from "../histogram";

export interface ConnectArgs {
  host: string;
  /** One port, or several to spread the clients over (several instances), client i taking port i mod n. */
  ports: number[];
  /** Source addresses, client i taking address i mod n. */
  localAddresses: string[];
  count: number;
  /** Connections in progress at once. */
  concurrency: number;
  namespace: string;
  /** Time allowed to one attempt, from the TCP connect to the namespace's connect packet. */
  connectTimeoutMs: number;
  /** Attempts per client: a client whose attempt fails or times out starts over on a new connection. */
  attempts: number;
}

export interface ConnectResult {
  connected: number;
  /** Clients that failed every attempt. */
  failed: number;
  /** Attempts after a failed first one, over all clients. */
  retried: number;
  /** Up to five distinct failure reasons. */
  errors: string[];
  /** Monotonic times of the first and last 101 Switching Protocols. */
  firstUpgradeAtMs: number;
  lastUpgradeAtMs: number;
}

export interface SubscribeArgs {
  /** Backtest id to subscribe to. */
  id: string;
  /** Subscribe this generator's first `clients` connected clients. */
  clients: number;
  concurrency: number;
  timeoutMs: number;
}

export interface SubscribeEachArgs {
  /** Backtest id per connected client of this generator, in connection order; extra clients stay idle. */
  ids: string[];
  concurrency: number;
  timeoutMs: number;
}

/** One subscription of `subscribeEach`: the client's index in its generator, the id and the snapshot's seq. */
export interface Subscription {
  client: number;
  id: string;
  snapshotSeq: number;
}

export interface SubscribeEachResult {
  subscriptions: Subscription[];
  failed: number;
  errors: string[];
}

export interface SubscribeResult {
  subscribed: number;
  failed: number;
  errors: string[];
  /** The snapshot `seq` of each acknowledgement, for the progress scenario. */
  snapshotSeqs: number[];
}

/**
 * The way frames are read during a measurement. `timed` finds the publish time that the bench's
 * payload carries and records the latency. `sequence` parses each event and records its id, seq
 * and arrival time, for the progress scenario.
 */
export type MeasureMode = "timed" | "sequence";

export interface MeasureStartArgs {
  mode: MeasureMode;
}

export interface MeasureCounts {
  /** socket.io event frames received since the measurement started. */
  events: number;
  /** Events that carried a publish time. */
  timed: number;
}

/** One received event in `sequence` mode: backtest id, seq, monotonic arrival time. */
export type ReceivedEvent = [id: string, seq: number, receivedAtMs: number, client: number];

export interface MeasureResult extends MeasureCounts {
  /** Monotonic time of the last event with a publish time, 0 when none arrived. */
  lastTimedAtMs: number;
  latency: HistogramData;
  /** CPU time of the generator process during the measurement, in milliseconds. */
  cpuMs: number;
  wallMs: number;
  /** Event loop utilization (0 to 1): the share of time the generator was busy. */
  eventLoopUtilization: number;
  /** Clients whose connection ended during the measurement. */
  closed: number;
  /** In `sequence` mode, every event received. */
  received: ReceivedEvent[];
}

export interface StatusResult {
  open: number;
  closed: number;
  /** Up to five distinct reasons for closed connections. */
  closeReasons: string[];
}

export interface SocketIoConnectArgs {
  url: string;
  count: number;
  concurrency: number;
  localAddresses: string[];
  /** socket.io-client Manager options for reconnection, as the product's client sets them. */
  reconnectionDelayMs: number;
  reconnectionDelayMaxMs: number;
  connectTimeoutMs: number;
}

/** Per client of the reconnect scenario: when its connection dropped and came back (monotonic ms). */
export interface ReconnectRecord {
  disconnectedAtMs: number | null;
  reconnectedAtMs: number | null;
}

export interface GeneratorCommands {
  connect: { args: ConnectArgs; result: ConnectResult };
  subscribe: { args: SubscribeArgs; result: SubscribeResult };
  subscribeEach: { args: SubscribeEachArgs; result: SubscribeEachResult };
  measureStart: { args: MeasureStartArgs; result: null };
  measureRead: { args: null; result: MeasureCounts };
  measureStop: { args: null; result: MeasureResult };
  status: { args: null; result: StatusResult };
  connectSocketIo: { args: SocketIoConnectArgs; result: ConnectResult };
  reconnectRecords: { args: null; result: ReconnectRecord[] };
  closeAll: { args: null; result: null };
}
