/**
 * Follows the Dockerfile outside Docker, since no Docker engine runs where the tests do. The test builds the
 * context from the working tree and .dockerignore, and runs each stage's npm steps in a folder of its own, with the
 * files that the COPY lines copy. It then starts the runtime stage with its CMD and ENV and probes it with its
 * HEALTHCHECK.
 *
 * Slow: two `npm ci` runs and a full TypeScript build took 26 s on a 2-core machine with a warm npm cache.
 *
 * NOTE: the steps run on this machine's Node.js, not the image's (FROM), and the RUN lines that prepare the
 * system (apt-get, folders outside the app) are skipped, so tini, the non-root user and /data are not exercised.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, test } from "vitest";

import { GOOG_BACKTEST, callApi, pollUntil, waitForBacktest } from "../support/api";
import { ROOT } from "../support/backplane";
import { freePort } from "../support/ports";
import {
  isIgnored,
  parseCopy,
  parseDockerfile,
  parseEnv,
  parseExecForm,
  parseHealthcheck,
  splitStages,
  type Stage,
} from "./dockerfile";

const DOCKERFILE = readFileSync(path.join(ROOT, "Dockerfile"), "utf8");
const STAGES = splitStages(parseDockerfile(DOCKERFILE));
const RUNTIME = STAGES.at(-1);
/** Maximum time of one RUN step, such as `npm ci` or the TypeScript build. */
const STEP_TIMEOUT_MS = 240_000;

/**
 * RUN steps that prepare the system image rather than the app: packages from apt-get and folders outside the app.
 * They need root and Debian's package index, so this test skips them; every other RUN step runs.
 */
const SYSTEM_STEP = /^(apt-get |rm -rf \/var\/lib\/apt\/lists|mkdir -p \/|chown )/;

function isSystemStep(command: string): boolean {
  return command.split("&&").every((part) => SYSTEM_STEP.test(part.trim()));
}

interface StageState {
  stage: Stage;
  /** The folder that stands for the stage's WORKDIR. */
  root: string;
  workdir: string | undefined;
  env: Record<string, string>;
}

describe("Dockerfile steps (slow)", () => {
  let scratch: string;
  let contextDir: string;
  let npmEnv: Record<string, string>;
  const states = new Map<string, StageState>();
  const skippedSteps: string[] = [];
  let server: ChildProcess | undefined;

  beforeAll(() => {
    scratch = mkdtempSync(path.join(os.tmpdir(), "backplane-docker-"));
    contextDir = path.join(scratch, "context");
    copyBuildContext(contextDir);

    // npm runs with a cache of the test's own, seeded from the user's, because the runtime stage ends with
    // `npm cache clean --force`.
    const npmCache = path.join(scratch, "npm-cache");
    const userCache = path.join(os.homedir(), ".npm", "_cacache");
    if (existsSync(userCache)) cpSync(userCache, path.join(npmCache, "_cacache"), { recursive: true });
    npmEnv = {
      PATH: process.env["PATH"] ?? "",
      HOME: process.env["HOME"] ?? scratch,
      npm_config_cache: npmCache,
      npm_config_prefer_offline: "true",
      npm_config_update_notifier: "false",
    };
  });

  afterAll(async () => {
    await stopServer(server);
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  });

  test("image rules hold", () => {
    expect(STAGES.map((stage) => stage.name)).toEqual(["build", "runtime"]);
    for (const stage of STAGES) expect(stage.base).toMatch(/^node:\d+-[a-z]+-slim$/);

    const runtime = requireRuntime();
    const keywords = (keyword: string) => runtime.instructions.filter((instruction) => instruction.keyword === keyword);
    expect(keywords("USER").map((instruction) => instruction.args)).toEqual(["node"]);
    expect(keywords("EXPOSE").map((instruction) => instruction.args)).toEqual(["3000"]);
    expect(parseExecForm(keywords("ENTRYPOINT")[0]?.args ?? "")).toEqual(["/usr/bin/tini", "--"]);
    expect(runtimeEnv()["PORT"]).toBe("3000");
  });

  test("build context leaves out local files", () => {
    expect(existsSync(path.join(contextDir, "package-lock.json"))).toBe(true);
    expect(existsSync(path.join(contextDir, "src/main.ts"))).toBe(true);
    expect(existsSync(path.join(contextDir, "data"))).toBe(true);
    for (const local of ["node_modules", "dist", ".git", "test"]) {
      expect(existsSync(path.join(contextDir, local)), local).toBe(false);
    }
  });

  test("stages build with production dependencies only", { timeout: 600_000 }, () => {
    for (const stage of STAGES) runStage(stage);

    expect(skippedSteps.length).toBeGreaterThan(0);
    const runtimeRoot = runtimeState().root;
    expect(existsSync(path.join(runtimeRoot, "dist/src/main.js"))).toBe(true);
    expect(existsSync(path.join(runtimeRoot, "dist/workers/main.js"))).toBe(true);
    expect(existsSync(path.join(runtimeRoot, "node_modules/express"))).toBe(true);
    for (const devDependency of ["typescript", "vitest", "pm2", "eslint"]) {
      expect(existsSync(path.join(runtimeRoot, "node_modules", devDependency)), devDependency).toBe(false);
    }
    // The sources stay in the build stage.
    expect(existsSync(path.join(runtimeRoot, "src"))).toBe(false);
  });

  test("CMD serves a backtest and passes the HEALTHCHECK", { timeout: 120_000 }, async () => {
    const runtime = runtimeState();
    const port = await freePort();
    const dataDir = path.join(scratch, "data-dir");
    mkdirSync(dataDir);
    // The image's defaults, with a free port on loopback, one web worker and a data folder of the test.
    const env = {
      PATH: process.env["PATH"] ?? "",
      HOME: process.env["HOME"] ?? scratch,
      ...runtime.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      WEB_CONCURRENCY: "1",
      DATA_DIR: dataDir,
    };
    const command = execFormOf("CMD");
    const healthcheck = parseHealthcheck(instructionOf("HEALTHCHECK").args);

    server = spawn(resolveNode(command[0]), command.slice(1), {
      cwd: runtime.root,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const output: string[] = [];
    server.stdout?.on("data", (chunk: Buffer) => output.push(chunk.toString("utf8")));
    server.stderr?.on("data", (chunk: Buffer) => output.push(chunk.toString("utf8")));

    await pollUntil(() => (runProbe(healthcheck.command, runtime.root, env) === 0 ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 250,
      what: () => `the HEALTHCHECK command to exit 0; server output:\n${output.join("").slice(-2_000)}`,
    });

    const url = `http://127.0.0.1:${port}`;
    const submitted = await callApi(url, "POST", "/api/backtests", { json: GOOG_BACKTEST });
    expect(submitted.status).toBe(202);
    const snapshot = await waitForBacktest(url, (submitted.body as { id: string }).id, ["completed", "failed"], 60_000);
    expect(snapshot.state).toBe("completed");

    // Redis is not configured in the image, so the startup log reports single-host mode.
    expect(output.join("")).toContain("Redis not configured: single-host mode");

    expect(await stopServer(server)).toBe(0);
    server = undefined;
    // The probe fails once the server is gone, so Docker would mark the container unhealthy.
    expect(runProbe(healthcheck.command, runtime.root, env)).not.toBe(0);
  });

  /** Copies the working tree's files (tracked and untracked, without git-ignored ones) minus .dockerignore. */
  function copyBuildContext(destination: string): void {
    const listing = spawnSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
      cwd: ROOT,
      encoding: "utf8",
    });
    if (listing.status !== 0) throw new Error(`git ls-files failed: ${listing.stderr}`);
    const patterns = readFileSync(path.join(ROOT, ".dockerignore"), "utf8").split("\n");

    for (const file of listing.stdout.split("\0")) {
      // A file deleted in the working tree is still listed by --cached.
      if (file === "" || isIgnored(file, patterns) || !existsSync(path.join(ROOT, file))) continue;
      const target = path.join(destination, file);
      mkdirSync(path.dirname(target), { recursive: true });
      cpSync(path.join(ROOT, file), target);
    }
  }

  function runStage(stage: Stage): void {
    const state: StageState = {
      stage,
      root: path.join(scratch, "stages", stage.name ?? `stage${states.size}`),
      workdir: undefined,
      env: {},
    };
    mkdirSync(state.root, { recursive: true });
    states.set(stage.name ?? "", state);

    for (const instruction of stage.instructions) {
      switch (instruction.keyword) {
        case "WORKDIR":
          state.workdir = instruction.args;
          break;
        case "ENV":
          Object.assign(state.env, parseEnv(instruction.args));
          break;
        case "COPY":
          copyInto(state, instruction.args);
          break;
        case "RUN":
          if (isSystemStep(instruction.args)) skippedSteps.push(instruction.args);
          else runStep(state, instruction.args);
          break;
        default:
          // USER, EXPOSE, HEALTHCHECK, ENTRYPOINT and CMD describe the container, not the build.
          break;
      }
    }
  }

  /** Maps a path of a stage's image (absolute, or relative to its WORKDIR) to the folder of the test. */
  function hostPath(state: StageState, imagePath: string): string {
    const workdir = state.workdir;
    if (workdir === undefined) throw new Error(`stage ${state.stage.name}: a path is used before WORKDIR`);
    if (!imagePath.startsWith("/")) return path.join(state.root, imagePath);
    if (imagePath === workdir || imagePath.startsWith(`${workdir}/`))
      return path.join(state.root, imagePath.slice(workdir.length));
    throw new Error(
      `stage ${state.stage.name}: ${imagePath} is outside WORKDIR ${workdir}, which this test cannot follow`,
    );
  }

  function copyInto(state: StageState, args: string): void {
    const copy = parseCopy(args);
    const sourceState = copy.from === undefined ? undefined : states.get(copy.from);
    if (copy.from !== undefined && sourceState === undefined)
      throw new Error(`COPY --from=${copy.from}: no such stage`);

    const intoFolder = copy.destination.endsWith("/") || copy.sources.length > 1;
    for (const source of copy.sources) {
      const from = sourceState === undefined ? path.join(contextDir, source) : hostPath(sourceState, source);
      if (!existsSync(from)) throw new Error(`COPY ${args}: ${source} is not in the ${copy.from ?? "build context"}`);
      const to = hostPath(
        state,
        intoFolder ? path.posix.join(copy.destination, path.basename(source)) : copy.destination,
      );
      mkdirSync(path.dirname(to), { recursive: true });
      cpSync(from, to, { recursive: true });
    }
  }

  function runStep(state: StageState, command: string): void {
    const result = spawnSync("sh", ["-c", command], {
      cwd: hostPath(state, "."),
      env: { ...npmEnv, ...state.env },
      encoding: "utf8",
      timeout: STEP_TIMEOUT_MS,
    });
    if (result.status !== 0) {
      throw new Error(
        `RUN ${command} failed with ${result.status ?? result.signal}:\n${result.stdout}${result.stderr}`,
      );
    }
  }

  function requireRuntime(): Stage {
    if (RUNTIME === undefined) throw new Error("the Dockerfile has no stage");
    return RUNTIME;
  }

  function runtimeState(): StageState {
    const state = states.get(requireRuntime().name ?? "");
    if (state === undefined) throw new Error("the runtime stage has not run; the build test failed first");
    return state;
  }

  function runtimeEnv(): Record<string, string> {
    const env: Record<string, string> = {};
    for (const instruction of requireRuntime().instructions) {
      if (instruction.keyword === "ENV") Object.assign(env, parseEnv(instruction.args));
    }
    return env;
  }

  function instructionOf(keyword: string) {
    const found = requireRuntime().instructions.filter((instruction) => instruction.keyword === keyword);
    expect(found, `${keyword} instructions of the runtime stage`).toHaveLength(1);
    return found[0] as NonNullable<(typeof found)[0]>;
  }

  function execFormOf(keyword: "CMD"): string[] {
    const command = parseExecForm(instructionOf(keyword).args);
    if (command === undefined || command.length === 0) throw new Error(`${keyword} must use the exec form`);
    return command;
  }
});

/** `node` in an image command is this machine's Node.js. */
function resolveNode(program: string | undefined): string {
  if (program === undefined) throw new Error("empty command");
  return program === "node" ? process.execPath : program;
}

function runProbe(command: string[], cwd: string, env: Record<string, string>): number | null {
  const result = spawnSync(resolveNode(command[0]), command.slice(1), { cwd, env, timeout: 10_000 });
  return result.status;
}

/** Sends SIGTERM, as `docker stop` does through tini, and resolves with the exit code. */
async function stopServer(child: ChildProcess | undefined): Promise<number | null> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  child.kill("SIGTERM");
  return exited;
}
