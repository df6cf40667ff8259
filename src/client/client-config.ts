/**
 * The contract of `GET /api/client-config`, shared by the server's route and settings and by the clients. It
 * imports nothing but zod, so that the server processes can load it without the client code.
 */
import { z } from "zod";

/** The socket.io transports that Backplane's clients may use: HTTP long-polling and WebSocket. */
export const TRANSPORT_NAMES = ["polling", "websocket"] as const;

export type TransportName = (typeof TRANSPORT_NAMES)[number];

export const CLIENT_CONFIG_PATH = "/api/client-config";

/** Body of `GET /api/client-config`. */
export interface ClientConfig {
  /**
   * socket.io transports in order of preference, to pass as the `transports` option of `io()`. `["websocket"]`
   * when several instances may serve the traffic without sticky sessions, `["polling", "websocket"]` otherwise.
   */
  transports: TransportName[];
}

export const clientConfigSchema: z.ZodType<ClientConfig> = z.object({
  transports: z.array(z.enum(TRANSPORT_NAMES)).min(1),
});
