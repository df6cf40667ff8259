import { spawnSync } from "node:child_process";
import path from "node:path";

import { describe, expect, test } from "vitest";

import { ROOT } from "../support/backplane";

interface Pm2AppConfig {
  name: string;
  script: string;
  exec_mode: string;
  instances: number;
  kill_timeout: number;
  env: Record<string, string>;
}

/** Loads ecosystem.config.js in a fresh Node.js process with `env`, as the pm2 command does. */
function loadEcosystem(env: Record<string, string>): { apps?: Pm2AppConfig[]; error?: string } {
  const file = path.join(ROOT, "ecosystem.config.js");
  const result = spawnSync(
    process.execPath,
    ["-e", `process.stdout.write(JSON.stringify(require(${JSON.stringify(file)})))`],
    {
      env: { PATH: process.env["PATH"] ?? "", ...env },
      encoding: "utf8",
    },
  );
  if (result.status !== 0) return { error: result.stderr };
  return { apps: (JSON.parse(result.stdout) as { apps: Pm2AppConfig[] }).apps };
}

describe("ecosystem.config.js", () => {
  test("web app only without Redis", () => {
    const { apps } = loadEcosystem({});

    expect(apps?.map((app) => app.name)).toEqual(["backplane-web"]);
  });

  test.each([["REDIS_URL"], ["ConnectionStrings__Redis"]])("%s adds the jobs app", (variable) => {
    const { apps } = loadEcosystem({ [variable]: "redis://127.0.0.1:6379", JOB_INSTANCES: "3" });

    expect(apps?.map((app) => app.name)).toEqual(["backplane-web", "backplane-jobs"]);
    const jobs = apps?.[1];
    expect(jobs?.script).toBe(path.join("dist", "workers", "main.js"));
    expect(jobs?.exec_mode).toBe("fork");
    expect(jobs?.instances).toBe(3);
  });

  test("web app is one forked primary", () => {
    const { apps } = loadEcosystem({ PORT: "4100" });
    const web = apps?.[0];

    // PM2's cluster mode would balance without sticky sessions; the primary owns the cluster instead.
    expect(web?.exec_mode).toBe("fork");
    expect(web?.instances).toBe(1);
    expect(web?.script).toBe(path.join("dist", "src", "main.js"));
    expect(web?.env["PORT"]).toBe("4100");
    expect(web?.env["JOB_PROCESSES"]).toBe("0");
  });

  test.each([[undefined], ["3000"]])("kill_timeout exceeds SHUTDOWN_TIMEOUT_MS=%s", (shutdownTimeoutMs) => {
    const { apps } = loadEcosystem(shutdownTimeoutMs === undefined ? {} : { SHUTDOWN_TIMEOUT_MS: shutdownTimeoutMs });
    const web = apps?.[0];

    const effectiveTimeoutMs = Number(shutdownTimeoutMs ?? 10_000);
    expect(web?.kill_timeout).toBeGreaterThan(effectiveTimeoutMs);
    expect(web?.env["SHUTDOWN_TIMEOUT_MS"]).toBe(String(effectiveTimeoutMs));
  });

  test("invalid number names the variable", () => {
    const { apps, error } = loadEcosystem({ JOB_INSTANCES: "two", REDIS_URL: "redis://127.0.0.1:6379" });

    expect(apps).toBeUndefined();
    expect(error).toContain('JOB_INSTANCES="two" is invalid: expected a whole number');
  });
});
