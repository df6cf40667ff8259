/**
 * Loopback source addresses for the load generators. A client socket bound to a source address
 * takes a port of the local range (32768–60999 by default) for that address alone, so one
 * address carries about 28,000 connections. Every call hands out fresh addresses, so that
 * sockets still in TIME_WAIT from an earlier step never collide with new ones. Linux routes all
 * of 127.0.0.0/8 to the loopback interface.
 */

/** Connections per address, well under the 28,231 ports of the default range. */
const CONNECTIONS_PER_ADDRESS = 20_000;

let next = 0;

export function sourceAddresses(connections: number): string[] {
  const count = Math.max(1, Math.ceil(connections / CONNECTIONS_PER_ADDRESS));
  return Array.from({ length: count }, () => {
    const n = next++;
    return `127.0.${1 + Math.floor(n / 250)}.${1 + (n % 250)}`;
  });
}
