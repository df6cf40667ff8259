/**
 * The `/backtest` hub contract, shared by the server, the client module, the CLI and the tests,
 * so that a renamed event or field breaks the build instead of a client.
 */

export type BacktestState = "queued" | "running" | "completed" | "failed" | "cancelled";

export const TERMINAL_STATES: ReadonlySet<BacktestState> = new Set(["completed", "failed", "cancelled"]);

export interface Progress {
  /** Bars processed so far. */
  processed: number;
  /** Bars the backtest will process in all. */
  total: number;
  /** processed ÷ total, from 0 to 100. */
  percent: number;
}

/** One error of the REST and hub catalogue. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  /** The request field at fault, for `validation_failed`. */
  field?: string;
}

export type ErrorCode = "validation_failed" | "not_found" | "conflict" | "unavailable" | "internal";

export interface ErrorReply {
  error: ErrorBody;
}

export interface TradeRecord {
  entryBar: number;
  exitBar: number;
  entryTime: string;
  exitTime: string;
  entryPrice: number;
  exitPrice: number;
  /** Signed units: positive for long, negative for short. */
  size: number;
  pnl: number;
  returnPct: number;
}

/** Statistics named after backtesting.py's `Stats`; `trades` is the count of closed trades. */
export type BacktestStats = Record<string, number | string | null> & { trades: number };

/** A trade still open when the data ended, valued at the last close. */
export interface OpenTradeRecord {
  entryBar: number;
  entryTime: string;
  entryPrice: number;
  /** Signed units: positive for long, negative for short. */
  size: number;
  openPnl: number;
}

export interface BacktestResult {
  stats: BacktestStats;
  trades: TradeRecord[];
  /** Trades left open at the end; always empty with `closeAtEnd`. */
  openTrades?: OpenTradeRecord[];
  equity?: unknown;
  /** Only in the result of a parameter sweep, whose other fields are those of its best combination. */
  sweep?: SweepSummary;
}

/** One backtested combination of a parameter sweep. */
export interface SweepEntry {
  /** Position of the combination in the grid, from 0, with the last grid parameter varying fastest. */
  index: number;
  /** The grid's values for this combination; fixed parameters are not repeated. */
  params: Record<string, number | string | boolean>;
  /** The numeric statistics of its backtest, null where a statistic is undefined. */
  stats: Record<string, number | null>;
}

/** A combination that the strategy rejected, with the reason. */
export interface SweepInvalidExample {
  params: Record<string, number | string | boolean>;
  reason: string;
}

/** Findings of a completed parameter sweep. */
export interface SweepSummary {
  /** The statistic that ranks the combinations. */
  rankBy: string;
  order: "desc" | "asc";
  /** Combinations in the grid. */
  combinations: number;
  /** Combinations backtested. */
  evaluated: number;
  /** Combinations skipped because the strategy rejected their parameters. */
  invalid: number;
  /** At most five skipped combinations, in grid order. */
  invalidExamples: SweepInvalidExample[];
  /** The best combinations, best first, at most 100; a null statistic ranks last. */
  ranking: SweepEntry[];
}

/** What `GET /api/backtests/:id` returns and what a subscribe ack carries. */
export interface BacktestSnapshot {
  id: string;
  state: BacktestState;
  /** Sequence number of the last event emitted for this job; 0 before any event. */
  seq: number;
  progress: Progress;
  result?: BacktestResult;
  error?: ErrorBody;
  /** For a parameter sweep, the best five combinations of its latest progress event. */
  best?: SweepEntry[];
}

export interface ProgressEvent extends Progress {
  id: string;
  seq: number;
  /** For a parameter sweep, where progress counts combinations: the best five so far, best first. */
  best?: SweepEntry[];
}

export interface CompletedEvent {
  id: string;
  seq: number;
  result: BacktestResult;
}

export interface FailedEvent {
  id: string;
  seq: number;
  error: ErrorBody;
}

export interface CancelledEvent {
  id: string;
  seq: number;
}

export interface SubscribeReply {
  snapshot: BacktestSnapshot;
  /** `<instance id>/<pid>` of the web worker that serves this socket. */
  worker: string;
}

export interface ServerToClientEvents {
  progress: (event: ProgressEvent) => void;
  completed: (event: CompletedEvent) => void;
  failed: (event: FailedEvent) => void;
  cancelled: (event: CancelledEvent) => void;
}

export interface ClientToServerEvents {
  subscribe: (request: { id: string }, ack: (reply: SubscribeReply | ErrorReply) => void) => void;
  unsubscribe: (request: { id: string }, ack?: (reply: { ok: true } | ErrorReply) => void) => void;
}

/** Any event a job emits, as it travels from the job to the hub. */
export type BacktestEvent =
  | ({ type: "progress" } & ProgressEvent)
  | ({ type: "completed" } & CompletedEvent)
  | ({ type: "failed" } & FailedEvent)
  | ({ type: "cancelled" } & CancelledEvent);

export const BACKTEST_NAMESPACE = "/backtest";

/** The socket.io room of one backtest's subscribers. */
export function backtestRoom(id: string): string {
  return `backtest:${id}`;
}
