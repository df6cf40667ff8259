import { Router } from "express";

import { CLIENT_CONFIG_PATH, type ClientConfig, type TransportName } from "../../client/client-config";
import type { Settings } from "../../config/settings";

/**
 * Transports of "auto" without Redis: socket.io's default, long-polling first and then an upgrade to WebSocket.
 * One primary balances every connection stickily, so each polling request reaches the worker that created its session.
 */
const SINGLE_INSTANCE_TRANSPORTS: readonly TransportName[] = ["polling", "websocket"];

/**
 * Transports of "auto" with Redis: several instances may share the traffic behind a load balancer without sticky
 * sessions, and only a WebSocket keeps all of a session on the instance that accepted it.
 */
const MULTI_INSTANCE_TRANSPORTS: readonly TransportName[] = ["websocket"];

/** Builds the body of `GET /api/client-config` from the CLIENT_TRANSPORTS setting and whether Redis is configured. */
export function resolveClientConfig(settings: Pick<Settings, "clientTransports" | "redis">): ClientConfig {
  if (settings.clientTransports !== "auto") {
    return { transports: [...settings.clientTransports] };
  }

  const transports = settings.redis === undefined ? SINGLE_INSTANCE_TRANSPORTS : MULTI_INSTANCE_TRANSPORTS;
  return { transports: [...transports] };
}

/** `GET /api/client-config`: the socket.io options that clients read before they connect. */
export function clientConfigRoutes(config: ClientConfig): Router {
  const router = Router();

  router.get(CLIENT_CONFIG_PATH, (_req, res) => {
    // A browser must not keep an old response after a redeploy changed CLIENT_TRANSPORTS or the instance count.
    res.setHeader("Cache-Control", "no-cache");
    res.json(config);
  });

  return router;
}
