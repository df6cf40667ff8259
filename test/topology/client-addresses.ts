import http from "node:http";

import type { ManagerOptions, SocketOptions } from "socket.io-client";

import type { ApiReply } from "../support/api";

/**
 * Source addresses of simulated clients. Linux routes all of 127.0.0.0/8 to the loopback
 * interface, so a socket may bind any of them. Each candidate sits in its own /24, so the
 * choice also works for a balancer that hashes only the first three octets.
 */
const CANDIDATE_ADDRESSES = Array.from({ length: 16 }, (_, i) => `127.0.${i + 1}.1`);

/**
 * Sends one HTTP request from `localAddress` and reads the whole reply, as `callApi` does with
 * fetch, which cannot pick its source address without undici's own Agent.
 */
export function requestFrom(
  localAddress: string | undefined,
  baseUrl: string,
  method: string,
  path: string,
  json?: unknown,
): Promise<ApiReply> {
  const body = json === undefined ? undefined : JSON.stringify(json);
  const startedAt = Date.now();

  return new Promise((resolve, reject) => {
    const request = http.request(
      `${baseUrl}${path}`,
      {
        method,
        ...(localAddress === undefined ? {} : { localAddress }),
        headers: body === undefined ? {} : { "content-type": "application/json" },
        timeout: 10_000,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", reject);
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // Not JSON: the raw text is returned, and the test's assertion on the shape fails.
          }
          const worker = response.headers["x-backplane-worker"];
          resolve({
            status: response.statusCode ?? 0,
            body: parsed,
            worker: typeof worker === "string" ? worker : null,
            elapsedMs: Date.now() - startedAt,
          });
        });
      },
    );
    request.on("timeout", () => request.destroy(new Error(`${method} ${path} from ${localAddress} timed out`)));
    request.on("error", reject);
    request.end(body);
  });
}

/**
 * socket.io-client options that make both transports connect from `localAddress`: engine.io-client
 * hands `agent` to the polling requests (xmlhttprequest-ssl) and to the WebSocket (ws).
 */
export function socketOptionsFrom(localAddress: string | undefined): Partial<ManagerOptions & SocketOptions> {
  if (localAddress === undefined) return {};
  return {
    // @ts-expect-error engine.io-client 6.6 types `agent` for browsers (string | boolean); in Node it takes an http.Agent.
    agent: new http.Agent({ localAddress }),
  };
}

/** Returns the instance id of an `X-Backplane-Worker` label or subscribe ack `worker`: `<instance id>/<pid>`. */
export function instanceOf(workerLabel: string | null | undefined): string {
  return String(workerLabel).split("/")[0] ?? "";
}

/**
 * Finds, behind a balancer that hashes the client address, one source address per instance.
 * Each candidate address requests `/healthz` through `baseUrl`, and the `X-Backplane-Worker`
 * header names the instance that served it. Throws when no candidate reaches some instance.
 */
export async function addressPerInstance(
  baseUrl: string,
  instanceIds: readonly string[],
): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const answers: string[] = [];

  for (const address of CANDIDATE_ADDRESSES) {
    const reply = await requestFrom(address, baseUrl, "GET", "/healthz");
    const instance = instanceOf(reply.worker);
    answers.push(`${address} -> ${reply.status} ${reply.worker}`);
    if (reply.status === 200 && instanceIds.includes(instance) && !found.has(instance)) found.set(instance, address);
    if (found.size === instanceIds.length) return found;
  }
  throw new Error(
    `no client address reached every instance of ${instanceIds.join(", ")} through ${baseUrl}: ${answers.join("; ")}`,
  );
}
