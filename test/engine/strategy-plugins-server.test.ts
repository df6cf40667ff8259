import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { callApi, waitForBacktest } from "../support/api";
import { BackplaneProcess } from "../support/backplane";

/** A compiled plug-in: it buys on bar 40 with the default size and keeps the position to the end. */
const PLUGIN = `"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.default = {
  name: "plugin-buy-and-hold",
  description: "Test plug-in: buys on bar 40 and holds",
  params: [],
  parseParams() { return {}; },
  init() {
    return { indicators: {}, next(context) { if (context.bar === 40) context.buy(); } };
  },
};
`;

describe("strategy plug-ins in a running server", () => {
  let server: BackplaneProcess | undefined;
  let directory: string | undefined;

  afterEach(async () => {
    await server?.stop();
    server = undefined;
    if (directory !== undefined) rmSync(directory, { recursive: true, force: true });
  });

  function pluginDirectory(files: Record<string, string>): string {
    directory = mkdtempSync(path.join(os.tmpdir(), "backplane-plugins-"));
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(directory, name), text);
    return directory;
  }

  it("runs a backtest with a strategy from STRATEGIES_DIR", async () => {
    server = await BackplaneProcess.start({
      webWorkers: 1,
      env: { STRATEGIES_DIR: pluginDirectory({ "buy-and-hold.js": PLUGIN }), JOB_PROCESSES: "0" },
    });

    const loaded = await server.waitForLog((line) => line.msg === "strategy plug-ins loaded");
    expect(loaded["strategies"]).toEqual(["plugin-buy-and-hold"]);

    const reply = await callApi(server.url, "POST", "/api/backtests", {
      json: { dataset: "goog-daily", strategy: "plugin-buy-and-hold", params: {} },
    });
    expect(reply.status).toBe(202);
    const id = (reply.body as { id: string }).id;
    // The backtest runs in a worker thread, which loads the plug-ins itself.
    const snapshot = await waitForBacktest(server.url, id, ["completed", "failed"], 30_000);
    expect(snapshot.state).toBe("completed");
    expect(snapshot.result?.trades[0]).toMatchObject({ entryBar: 41 });
  });

  it("stops a web worker at a bad module and names the file", async () => {
    const folder = pluginDirectory({ "broken.js": "module.exports = {" });
    server = await BackplaneProcess.start({
      webWorkers: 1,
      waitForWorkers: false,
      env: { STRATEGIES_DIR: folder, JOB_PROCESSES: "0" },
    });

    const fatal = await server.waitForLog((line) => line.msg?.startsWith("strategy plug-in not loaded") === true);
    expect(fatal["file"]).toBe(path.join(folder, "broken.js"));
    expect(fatal.level).toBe(60);
    expect(server.count((line) => line.msg === "web worker ready")).toBe(0);
  });
});
