import { describe, expect, it } from "vitest";

import { type CreateLoggerOptions, createLogger } from "../../src/logging/logger";
import { createSecretScrubber } from "../../src/logging/scrub-secrets";

const PASSWORD = 'p@ss:w/o=r+d%#1"\\';

/** Creates a logger that writes into an array, and returns it with its raw and parsed lines. */
function captureLogger(options: Partial<CreateLoggerOptions> = {}) {
  const raw: string[] = [];
  const logger = createLogger({
    level: "info",
    role: "web",
    secrets: [PASSWORD],
    destination: { write: (line: string) => void raw.push(line) },
    ...options,
  });
  const lines = () => raw.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger, raw, lines };
}

describe("createLogger", () => {
  it("writes role and bindings on every line", () => {
    const { logger, lines } = captureLogger({ instanceId: "i-1", workerId: 3 });

    logger.child({ jobId: "j" }).info({ a: 1 }, "started");

    expect(lines()).toEqual([
      expect.objectContaining({
        role: "web",
        instanceId: "i-1",
        workerId: 3,
        jobId: "j",
        a: 1,
        msg: "started",
        level: 30,
      }),
    ]);
  });

  it("scrubs the password from message, err and fields", () => {
    const { logger, raw, lines } = captureLogger();
    const err = new Error(`AUTH failed for ${PASSWORD}`);

    logger.error({ err, detail: `got ${PASSWORD}`, nested: { deep: [PASSWORD] } }, `message with ${PASSWORD}`);

    const [line] = lines();
    const loggedErr = line?.["err"] as { message: string; stack: string };
    expect(raw.join("")).not.toContain(PASSWORD);
    expect(raw.join("")).not.toContain(JSON.stringify(PASSWORD).slice(1, -1));
    expect(line?.["msg"]).toBe("message with ****");
    expect(loggedErr.message).toBe("AUTH failed for ****");
    expect(loggedErr.stack).toContain("AUTH failed for ****");
    expect(loggedErr.stack).not.toContain(PASSWORD);
    expect(line?.["detail"]).toBe("got ****");
    expect(line?.["nested"]).toEqual({ deep: ["****"] });
  });

  it("scrubs the percent-encoded password", () => {
    const { logger, raw } = captureLogger();

    logger.warn({ url: `redis://:${encodeURIComponent(PASSWORD)}@host` }, "connecting");

    expect(raw.join("")).not.toContain(encodeURIComponent(PASSWORD));
    expect(JSON.parse(raw[0] ?? "{}")).toMatchObject({ url: "redis://:****@host" });
  });

  it("scrubs the password from a child's bindings", () => {
    const { logger, raw } = captureLogger();

    logger.child({ connection: `password=${PASSWORD}` }).info("ready");

    expect(raw.join("")).not.toContain(PASSWORD);
  });

  it("redacts password fields and authorization headers", () => {
    const { logger, lines } = captureLogger({ secrets: [] });

    logger.info(
      { password: "one", redis: { password: "two" }, req: { headers: { authorization: "Bearer three" } } },
      "request",
    );

    expect(lines()[0]).toMatchObject({
      password: "****",
      redis: { password: "****" },
      req: { headers: { authorization: "****" } },
    });
  });

  it("redacts ioredis command arguments", () => {
    const { logger, raw, lines } = captureLogger({ secrets: [] });
    const err = Object.assign(new Error("WRONGPASS invalid username-password pair"), {
      command: { name: "auth", args: ["not-a-known-secret"] },
    });

    logger.error({ err }, "Redis client error");

    expect(raw.join("")).not.toContain("not-a-known-secret");
    expect(lines()[0]).toMatchObject({ err: { command: { name: "auth", args: "****" } } });
  });

  it("ignores empty secrets", () => {
    const { logger, lines } = captureLogger({ secrets: [""] });

    logger.info({ text: "unchanged" }, "hello");

    expect(lines()[0]).toMatchObject({ text: "unchanged", msg: "hello" });
  });
});

describe("createSecretScrubber", () => {
  it("replaces raw and percent-encoded forms", () => {
    const scrub = createSecretScrubber(["a@b"]);

    expect(scrub("x a@b y a%40b z")).toBe("x **** y **** z");
  });

  it("replaces the JSON-escaped form and keeps JSON valid", () => {
    const scrub = createSecretScrubber(['","'], { json: true });
    const line = JSON.stringify({ a: 'say ","', b: "c" });

    expect(JSON.parse(scrub(line))).toEqual({ a: "say ****", b: "c" });
  });

  it("returns text unchanged without secrets", () => {
    expect(createSecretScrubber([])("text")).toBe("text");
  });
});
