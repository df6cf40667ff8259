import { randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { BacktestSnapshot } from "../../src/hubs/backtest-events";
import { callApi, pollUntil, waitForBacktest } from "../support/api";
import { BackplaneProcess } from "../support/backplane";
import { connectHub, type HubSocket } from "../support/hub-client";
import { REDIS_SKIP_REASON, TestRedisServer, redisServerAvailable } from "../support/redis-server";

const HEADER = "timestamp,open,high,low,close,volume\n";

/** Upload limit of the test servers: room for the 100 MB upload, and a bound the over-limit test can cross. */
const MAX_UPLOAD_BYTES = 110 * 1024 * 1024;

/** Size of the large upload; `UPLOAD_TEST_MB` overrides it. */
const LARGE_UPLOAD_BYTES = Number(process.env["UPLOAD_TEST_MB"] ?? 100) * 1024 * 1024;

/**
 * Minute candles from 2024-01-01 00:00 UTC with a random walk, as CSV rows; `skip` leaves minutes
 * out to make gaps.
 */
function minuteRows(count: number, skip: ReadonlySet<number> = new Set()): string {
  const start = Date.UTC(2024, 0, 1);
  let price = 100;
  let rows = "";
  for (let minute = 0, written = 0; written < count; minute++) {
    if (skip.has(minute)) continue;
    const close = price * (1 + Math.sin(minute / 37) * 0.004 + Math.cos(minute / 11) * 0.002);
    rows += `${new Date(start + minute * 60_000).toISOString()},${price.toFixed(4)},${(Math.max(price, close) * 1.001).toFixed(4)},${(Math.min(price, close) * 0.999).toFixed(4)},${close.toFixed(4)},${(1 + (minute % 7)).toFixed(2)}\n`;
    price = close;
    written++;
  }
  return rows;
}

interface UploadReply {
  status: number;
  body: Record<string, unknown> & { error?: { code: string; message: string; field?: string } };
}

interface UploadOptions {
  contentType?: string;
  /** Omit Content-Length and send the body chunked. */
  chunked?: boolean;
}

/** POSTs a body to /api/datasets with node:http, so that large bodies stream and headers stay under the test's control. */
function upload(
  baseUrl: string,
  query: string,
  body: Buffer | Readable,
  options: UploadOptions = {},
): Promise<UploadReply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { "content-type": options.contentType ?? "text/csv" };
    if (Buffer.isBuffer(body) && options.chunked !== true) headers["content-length"] = body.length;
    const request = http.request(`${baseUrl}/api/datasets?${query}`, { method: "POST", headers }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (text += chunk));
      response.on("end", () =>
        resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as UploadReply["body"] }),
      );
    });
    request.on("error", reject);
    if (Buffer.isBuffer(body)) request.end(body);
    else body.pipe(request);
  });
}

/** A generated CSV body of at least `bytes` bytes, produced in chunks as the request reads it. */
function generatedCsv(bytes: number): Readable {
  const start = Date.UTC(2000, 0, 1);
  let produced = 0;
  let minute = 0;
  return new Readable({
    read() {
      if (produced >= bytes) {
        this.push(null);
        return;
      }
      let chunk = produced === 0 ? HEADER : "";
      while (chunk.length < 256 * 1024) {
        const price = 100 + (minute % 1000) / 100;
        chunk += `${start / 1000 + minute * 60},${price},${price + 0.5},${price - 0.5},${price + 0.25},${minute % 97}\n`;
        minute++;
      }
      produced += chunk.length;
      this.push(chunk);
    },
  });
}

function uploadsIn(dataDir: string): string[] {
  try {
    return readdirSync(path.join(dataDir, "uploads"));
  } catch {
    return [];
  }
}

/** Asks for a dataset until two different web workers have answered, opening a socket.io session between requests to move the next one. */
async function workersThatSee(baseUrl: string, id: string, sockets: HubSocket[]): Promise<Set<string>> {
  const seenBy = new Set<string>();
  for (let i = 0; i < 4; i += 1) {
    const reply = await callApi(baseUrl, "GET", `/api/datasets/${id}`);
    expect(reply.status).toBe(200);
    seenBy.add(String(reply.worker));
    sockets.push(await connectHub(baseUrl, ["websocket"]));
  }
  return seenBy;
}

/** Invalid uploads, each with the row the 400 must name and a phrase of the reason. */
const INVALID_UPLOADS: { name: string; csv: string; row: number; reason: RegExp }[] = [
  {
    name: "a missing column",
    csv: "timestamp,open,high,low,volume\n2024-01-01,1,2,1,5\n",
    row: 1,
    reason: /missing column "close"/,
  },
  {
    name: "an unparseable number",
    csv: HEADER + minuteRows(20) + "2024-02-01T00:00:00Z,1,abc,1,1,1\n",
    row: 22,
    reason: /invalid number "abc" in column high/,
  },
  {
    name: "a non-positive price",
    csv: HEADER + minuteRows(5) + "2024-02-01T00:00:00Z,0,2,1,1,1\n",
    row: 7,
    reason: /invalid open price 0/,
  },
  {
    name: "high below low",
    csv: HEADER + minuteRows(8) + "2024-02-01T00:00:00Z,2,1,1.5,2,1\n",
    row: 10,
    reason: /high 1 is below low 1\.5/,
  },
  {
    name: "an unsorted timestamp",
    csv: HEADER + minuteRows(30) + "2024-01-01T00:05:00Z,1,2,1,1,1\n",
    row: 32,
    reason: /unsorted timestamp/,
  },
  {
    name: "a duplicate timestamp",
    csv: HEADER + minuteRows(12) + "2024-01-01T00:11:00Z,1,2,1,1,1\n",
    row: 14,
    reason: /duplicate timestamp/,
  },
];

const hasRedis = redisServerAvailable();

describe("dataset uploads in single-host mode", () => {
  let server: BackplaneProcess;
  let dataDir: string;
  const sockets: HubSocket[] = [];

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "backplane-uploads-"));
    server = await BackplaneProcess.start({
      webWorkers: 2,
      env: { DATA_DIR: dataDir, MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES) },
    });
  });

  afterAll(async () => {
    for (const socket of sockets) socket.close();
    if (server !== undefined) expect(await server.stop()).toBe(0);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("stores a plain and a gzip upload and backtests both", async () => {
    const csv = HEADER + minuteRows(3_000, new Set([100, 101, 102, 2000]));
    const plain = await upload(server.url, "id=plain-1m&symbol=TEST&timeframe=1m", Buffer.from(csv));
    expect(plain.status).toBe(201);
    expect(plain.body).toMatchObject({
      id: "plain-1m",
      symbol: "TEST",
      timeframe: "1m",
      rows: 3_000,
      start: "2024-01-01T00:00:00.000Z",
      source: "upload",
      intervalMs: 60_000,
      compressed: false,
      gaps: {
        count: 2,
        missingBars: 4,
        largest: [
          { after: "2024-01-01T01:39:00.000Z", before: "2024-01-01T01:43:00.000Z", missingBars: 3 },
          { after: "2024-01-02T09:19:00.000Z", before: "2024-01-02T09:21:00.000Z", missingBars: 1 },
        ],
      },
    });

    const gzip = await upload(server.url, "id=gzip-1m&symbol=TEST&timeframe=1m", gzipSync(csv), {
      contentType: "application/gzip",
    });
    expect(gzip.status).toBe(201);
    expect(gzip.body).toMatchObject({ id: "gzip-1m", rows: 3_000, compressed: true });

    const listed = (await callApi(server.url, "GET", "/api/datasets")).body as { id: string }[];
    expect(listed.map((dataset) => dataset.id)).toEqual([
      "btcusdt-1h",
      "goog-daily",
      "btcusdt-1m-2024",
      "gzip-1m",
      "plain-1m",
    ]);

    for (const dataset of ["plain-1m", "gzip-1m"]) {
      const submitted = await callApi(server.url, "POST", "/api/backtests", {
        json: { dataset, strategy: "sma-cross", params: { fast: 10, slow: 30 } },
      });
      expect(submitted.status).toBe(202);
      const done = await waitForBacktest(
        server.url,
        (submitted.body as { id: string }).id,
        ["completed", "failed"],
        20_000,
      );
      expect(done.state).toBe("completed");
      expect(done.progress.total).toBe(3_000);
    }
    expect(uploadsIn(dataDir).sort()).toEqual(["gzip-1m", "plain-1m"]);
  });

  it("serves an upload from both web workers", async () => {
    const seenBy = await workersThatSee(server.url, "plain-1m", sockets);
    expect(seenBy.size).toBe(2);
  });

  it("resamples an upload in a backtest and rejects a shorter target", async () => {
    const resampled = await callApi(server.url, "POST", "/api/backtests", {
      json: { dataset: "plain-1m", strategy: "sma-cross", params: { fast: 3, slow: 8 }, resample: "1h" },
    });
    expect(resampled.status).toBe(202);
    const done = await waitForBacktest(
      server.url,
      (resampled.body as { id: string }).id,
      ["completed", "failed"],
      20_000,
    );
    expect(done.state).toBe("completed");
    // 3,000 rows of minutes with 4 missing span 3,004 minutes, which touch 51 hours.
    expect(done.progress.total).toBe(51);

    const hourly = await upload(
      server.url,
      "id=hourly&symbol=TEST&timeframe=1h",
      Buffer.from(HEADER + "2024-01-01T00:00:00Z,1,2,1,1,1\n2024-01-01T01:00:00Z,1,2,1,1,1\n"),
    );
    expect(hourly.status).toBe(201);
    const shorter = await callApi(server.url, "POST", "/api/backtests", {
      json: { dataset: "hourly", strategy: "sma-cross", resample: "15m" },
    });
    expect(shorter.status).toBe(400);
    expect(shorter.body).toMatchObject({ error: { code: "validation_failed", field: "resample" } });
    expect(JSON.stringify(shorter.body)).toContain("shorter than the dataset's bar interval of 1h");

    const unknown = await callApi(server.url, "POST", "/api/backtests", {
      json: { dataset: "plain-1m", strategy: "sma-cross", resample: "2h" },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body).toMatchObject({ error: { field: "resample" } });
  });

  for (const testCase of INVALID_UPLOADS) {
    it(`rejects ${testCase.name} with its row`, async () => {
      const reply = await upload(
        server.url,
        `id=bad-${randomUUID().slice(0, 8)}&symbol=TEST&timeframe=1m`,
        Buffer.from(testCase.csv),
      );
      expect(reply.status).toBe(400);
      expect(reply.body.error?.code).toBe("validation_failed");
      expect(reply.body.error?.message).toContain(`at row ${testCase.row}:`);
      expect(reply.body.error?.message).toMatch(testCase.reason);
    });
  }

  it("rejects a timeframe that does not match the rows", async () => {
    const reply = await upload(
      server.url,
      "id=mislabelled&symbol=TEST&timeframe=1h",
      Buffer.from(HEADER + minuteRows(10)),
    );
    expect(reply.status).toBe(400);
    expect(reply.body.error?.message).toMatch(/most common interval between rows is 1m/);
  });

  it("rejects bad queries, types and gzip data", async () => {
    const body = Buffer.from(HEADER + minuteRows(3));
    const cases: { query: string; contentType?: string; body?: Buffer; field: string }[] = [
      { query: "symbol=TEST&timeframe=1m", field: "id" },
      { query: "id=Upper&symbol=TEST&timeframe=1m", field: "id" },
      { query: "id=ok&symbol=TEST&timeframe=hourly", field: "timeframe" },
      { query: "id=ok&timeframe=1m", field: "symbol" },
      { query: "id=ok&symbol=TEST&timeframe=1m", contentType: "application/json", field: "content-type" },
      { query: "id=ok&symbol=TEST&timeframe=1m", contentType: "application/gzip", field: "body" },
      { query: "id=ok&symbol=TEST&timeframe=1m", body: gzipSync(body), field: "body" },
    ];
    for (const testCase of cases) {
      const reply = await upload(server.url, testCase.query, testCase.body ?? body, {
        contentType: testCase.contentType ?? "text/csv",
      });
      expect(reply.status, testCase.query).toBe(400);
      expect(reply.body.error?.field, testCase.query).toBe(testCase.field);
    }
    expect(uploadsIn(dataDir)).not.toContain("ok");
  });

  it("answers 409 for an id that exists", async () => {
    const body = Buffer.from(HEADER + minuteRows(3));
    for (const id of ["plain-1m", "goog-daily"]) {
      const reply = await upload(server.url, `id=${id}&symbol=TEST&timeframe=1m`, body);
      expect(reply.status).toBe(409);
      expect(reply.body.error).toMatchObject({ code: "conflict", field: "id" });
    }
  });

  it("rejects a body over MAX_UPLOAD_BYTES, declared or streamed", async () => {
    const declared = await new Promise<number>((resolve, reject) => {
      const request = http.request(`${server.url}/api/datasets?id=declared&symbol=TEST&timeframe=1m`, {
        method: "POST",
        headers: { "content-type": "text/csv", "content-length": MAX_UPLOAD_BYTES + 1 },
      });
      request.on("response", (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
        request.destroy();
      });
      request.on("error", reject);
      request.write(HEADER);
    });
    expect(declared).toBe(400);

    const streamed = await upload(
      server.url,
      "id=streamed&symbol=TEST&timeframe=1m",
      generatedCsv(MAX_UPLOAD_BYTES + 1024 * 1024),
    );
    expect(streamed.status).toBe(400);
    expect(streamed.body.error?.message).toMatch(/larger than \d+ bytes \(MAX_UPLOAD_BYTES\)/);
    await pollUntil(() => (uploadsIn(dataDir).some((name) => name.startsWith(".upload-")) ? undefined : true), {
      timeoutMs: 5_000,
      what: "temporary upload folders to be removed",
    });
    expect(uploadsIn(dataDir)).not.toContain("streamed");
  });

  it("leaves nothing behind when the client aborts", async () => {
    const request = http.request(`${server.url}/api/datasets?id=aborted&symbol=TEST&timeframe=1m`, {
      method: "POST",
      headers: { "content-type": "text/csv", "content-length": 50 * 1024 * 1024 },
    });
    request.on("error", () => undefined);
    request.write(HEADER + minuteRows(20_000));
    await pollUntil(() => (uploadsIn(dataDir).some((name) => name.startsWith(".upload-")) ? true : undefined), {
      timeoutMs: 5_000,
      what: "the upload to start",
    });
    request.destroy();

    await pollUntil(() => (uploadsIn(dataDir).some((name) => name.startsWith(".upload-")) ? undefined : true), {
      timeoutMs: 5_000,
      what: "the temporary folder to be removed",
    });
    expect(uploadsIn(dataDir)).not.toContain("aborted");
    await server.waitForLog((line) => line.msg === "dataset upload aborted");
  });

  // Measures the throughput of a large upload through the sticky primary, which forwards a body
  // with Content-Length to the worker over IPC chunk by chunk.
  it(`streams a ${LARGE_UPLOAD_BYTES / 1024 / 1024} MB upload to disk`, { timeout: 120_000 }, async () => {
    const startedAt = Date.now();
    const reply = await upload(server.url, "id=large&symbol=TEST&timeframe=1m", generatedCsv(LARGE_UPLOAD_BYTES));
    const seconds = (Date.now() - startedAt) / 1000;
    console.log(`upload of ${(Number(reply.body["bytes"]) / 1024 / 1024).toFixed(1)} MB in ${seconds.toFixed(2)} s`);

    expect(reply.status).toBe(201);
    expect(Number(reply.body["bytes"])).toBeGreaterThanOrEqual(LARGE_UPLOAD_BYTES);
    expect(reply.body["gaps"]).toMatchObject({ count: 0 });
    expect(seconds).toBeLessThan(60);
  });
});

describe.skipIf(!hasRedis)("dataset uploads in Redis mode", () => {
  let redisServer: TestRedisServer;
  let server: BackplaneProcess;
  let dataDir: string;
  const sockets: HubSocket[] = [];

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "backplane-uploads-"));
    redisServer = await TestRedisServer.start();
    server = await BackplaneProcess.start({
      webWorkers: 2,
      env: {
        DATA_DIR: dataDir,
        REDIS_URL: redisServer.url,
        REDIS_PREFIX: `test${randomUUID().slice(0, 8)}`,
        JOB_PROCESSES: "1",
      },
    });
    await server.waitForLog((line) => line.msg === "job process ready");
  });

  afterAll(async () => {
    for (const socket of sockets) socket.close();
    if (server !== undefined) expect(await server.stop()).toBe(0);
    await redisServer?.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("backtests an upload in a job process and serves it from both web workers", async () => {
    const reply = await upload(
      server.url,
      "id=shared-1m&symbol=TEST&timeframe=1m",
      gzipSync(HEADER + minuteRows(2_000)),
      { contentType: "application/gzip" },
    );
    expect(reply.status).toBe(201);

    const submitted = await callApi(server.url, "POST", "/api/backtests", {
      json: { dataset: "shared-1m", strategy: "sma-cross", params: { fast: 5, slow: 20 } },
    });
    expect(submitted.status).toBe(202);
    const id = (submitted.body as { id: string }).id;
    const done: BacktestSnapshot = await waitForBacktest(server.url, id, ["completed", "failed"], 20_000);
    expect(done.state).toBe("completed");
    expect(done.progress.total).toBe(2_000);
    const started = await server.waitForLog((line) => line.msg === "backtest started" && line["backtestId"] === id);
    expect(started.role).toBe("jobs");

    expect((await workersThatSee(server.url, "shared-1m", sockets)).size).toBe(2);
    const again = await upload(
      server.url,
      "id=shared-1m&symbol=TEST&timeframe=1m",
      Buffer.from(HEADER + minuteRows(3)),
    );
    expect(again.status).toBe(409);
  });
});

if (!hasRedis) console.warn(`Redis-mode upload tests skipped: ${REDIS_SKIP_REASON}`);
