/**
 * A socket.io client on a bare TCP socket. It performs the WebSocket handshake and speaks just
 * enough of the Engine.IO 4 and socket.io 5 protocols to join a namespace, emit with an
 * acknowledgement and reply to pings. It hands every event frame to a callback as a slice of the
 * received buffer. Frames are counted and read in place, without decoding JSON or even UTF-8,
 * so that one load generator process can take hundreds of thousands of frames a second.
 */
import { createHash, randomBytes } from "node:crypto";
import net from "node:net";

import { monotonicMs } from "../clock";

const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const HEADER_END = Buffer.from("\r\n\r\n");

const OPCODE_TEXT = 0x1;
const OPCODE_CLOSE = 0x8;
const OPCODE_PING = 0x9;
const OPCODE_PONG = 0xa;

/** ASCII codes of the Engine.IO and socket.io packet types that the client reads. */
const CHAR_0 = 0x30;
const ENGINE_OPEN = 0x30; // "0"
const ENGINE_CLOSE = 0x31; // "1"
const ENGINE_PING = 0x32; // "2"
const ENGINE_MESSAGE = 0x34; // "4"
const SOCKET_CONNECT = 0x30; // "0"
const SOCKET_DISCONNECT = 0x31; // "1"
const SOCKET_EVENT = 0x32; // "2"
const SOCKET_ACK = 0x33; // "3"
const SOCKET_CONNECT_ERROR = 0x34; // "4"

export interface RawClientOptions {
  host: string;
  port: number;
  /** Source address of the TCP connection, such as 127.0.0.7, to spread clients over port ranges. */
  localAddress: string;
  /** socket.io namespace to join, such as "/backtest". */
  namespace: string;
  /** Time allowed from the TCP connect to the namespace's connect packet, in milliseconds. */
  connectTimeoutMs: number;
}

/**
 * Receives each event frame of the namespace: `frame[start, end)` is the socket.io packet text,
 * such as `2/backtest,["progress",{...}]`, without the Engine.IO "4" in front. `receivedAtMs` is
 * one monotonic reading per TCP read, shared by the frames that arrived together.
 */
export type EventSink = (frame: Buffer, start: number, end: number, receivedAtMs: number) => void;

type ClientState = "connecting" | "handshake" | "open" | "namespace" | "ready" | "closed";

export class RawSocketIoClient {
  state: ClientState = "connecting";
  /** Monotonic time at which the server accepted the upgrade with 101. */
  upgradedAtMs = 0;
  /** Monotonic time at which the namespace connect packet arrived. */
  readyAtMs = 0;
  /** The reason the connection ended, once closed. */
  closeReason: string | undefined;

  private readonly socket: net.Socket;
  private readonly key = randomBytes(16).toString("base64");
  private readonly namespacePrefix: Buffer;
  private pending: Buffer | undefined;
  private nextAckId = 1;
  private readonly acks = new Map<number, (reply: unknown) => void>();
  private readonly namespaceJoined: Promise<void>;
  private settleReady: ((error?: Error) => void) | undefined;

  constructor(
    private readonly options: RawClientOptions,
    private readonly onEvent: EventSink,
    private readonly onClose: (client: RawSocketIoClient) => void = () => undefined,
  ) {
    this.namespacePrefix = Buffer.from(`${options.namespace},`);
    this.namespaceJoined = new Promise<void>((resolve, reject) => {
      this.settleReady = (error) => {
        this.settleReady = undefined;
        clearTimeout(timer);
        if (error === undefined) resolve();
        else reject(error);
      };
      const timer = setTimeout(
        () => this.fail(`no namespace connect within ${options.connectTimeoutMs} ms (state ${this.state})`),
        options.connectTimeoutMs,
      );
    });
    this.socket = net.connect({
      host: options.host,
      port: options.port,
      localAddress: options.localAddress,
      noDelay: true,
    });
    this.socket.on("connect", () => this.sendUpgradeRequest());
    this.socket.on("data", (chunk: Buffer) => this.onData(chunk));
    this.socket.on("error", (err) => this.fail(`socket error: ${err.message}`));
    this.socket.on("close", () => this.fail("socket closed"));
  }

  /** Resolves once the namespace is joined; rejects when the connection fails first. */
  connected(): Promise<void> {
    return this.namespaceJoined;
  }

  /** Emits an event and resolves with the acknowledgement's first argument. */
  emitWithAck(event: string, data: unknown, timeoutMs: number): Promise<unknown> {
    const ackId = this.nextAckId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.acks.delete(ackId);
        reject(new Error(`no acknowledgement of "${event}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.acks.set(ackId, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.sendText(`42${this.options.namespace},${ackId}${JSON.stringify([event, data])}`);
    });
  }

  close(): void {
    this.state = "closed";
    this.closeReason ??= "closed by the client";
    this.socket.destroy();
  }

  private fail(reason: string): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.closeReason = reason;
    this.socket.destroy();
    this.settleReady?.(new Error(reason));
    this.onClose(this);
  }

  private sendUpgradeRequest(): void {
    this.state = "handshake";
    this.socket.write(
      `GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n` +
        `Host: ${this.options.host}:${this.options.port}\r\n` +
        `Upgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${this.key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
  }

  private onData(chunk: Buffer): void {
    let buffer = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = undefined;

    if (this.state === "handshake") {
      const end = buffer.indexOf(HEADER_END);
      if (end < 0) {
        this.pending = buffer;
        return;
      }
      if (!this.acceptUpgrade(buffer.toString("latin1", 0, end))) return;
      buffer = buffer.subarray(end + HEADER_END.length);
    }
    this.readFrames(buffer, monotonicMs());
  }

  private acceptUpgrade(header: string): boolean {
    const [statusLine, ...lines] = header.split("\r\n");
    if (!statusLine?.startsWith("HTTP/1.1 101")) {
      this.fail(`upgrade refused: ${statusLine ?? "empty response"}`);
      return false;
    }
    const expected = createHash("sha1")
      .update(this.key + WEBSOCKET_GUID)
      .digest("base64");
    const accept = lines.find((line) => line.toLowerCase().startsWith("sec-websocket-accept:"));
    if (accept?.slice(accept.indexOf(":") + 1).trim() !== expected) {
      this.fail("upgrade answered with a wrong Sec-WebSocket-Accept");
      return false;
    }
    this.state = "open";
    this.upgradedAtMs = monotonicMs();
    return true;
  }

  /** Walks the complete frames of `buffer` and keeps an incomplete last one for the next read. */
  private readFrames(buffer: Buffer, receivedAtMs: number): void {
    let offset = 0;
    const length = buffer.length;
    while (length - offset >= 2) {
      const first = buffer[offset] as number;
      let payloadLength = (buffer[offset + 1] as number) & 0x7f;
      let headerLength = 2;
      if (payloadLength === 126) {
        if (length - offset < 4) break;
        payloadLength = buffer.readUInt16BE(offset + 2);
        headerLength = 4;
      } else if (payloadLength === 127) {
        if (length - offset < 10) break;
        payloadLength = Number(buffer.readBigUInt64BE(offset + 2));
        headerLength = 10;
      }
      const end = offset + headerLength + payloadLength;
      if (end > length) break;

      const opcode = first & 0x0f;
      if (opcode === OPCODE_TEXT) this.onText(buffer, offset + headerLength, end, receivedAtMs);
      else this.onControl(opcode, buffer.subarray(offset + headerLength, end));
      if (this.state === "closed") return;
      offset = end;
    }
    if (offset < length) this.pending = buffer.subarray(offset);
  }

  private onText(buffer: Buffer, start: number, end: number, receivedAtMs: number): void {
    const engineType = buffer[start];
    if (engineType === ENGINE_MESSAGE && end - start >= 2) {
      const socketType = buffer[start + 1];
      if (socketType === SOCKET_EVENT) {
        this.onEvent(buffer, start + 1, end, receivedAtMs);
        return;
      }
      this.onSocketPacket(socketType ?? 0, buffer.toString("utf8", start + 2, end));
      return;
    }
    if (engineType === ENGINE_PING) {
      this.sendText("3");
      return;
    }
    if (engineType === ENGINE_OPEN && this.state === "open") {
      this.state = "namespace";
      this.sendText(`40${this.options.namespace},`);
      return;
    }
    if (engineType === ENGINE_CLOSE) this.fail("the server closed the Engine.IO session");
  }

  /** Handles the rare socket.io packets: namespace connect, acknowledgements and errors. */
  private onSocketPacket(type: number, text: string): void {
    const prefix = this.namespacePrefix.toString();
    const body = text.startsWith(prefix) ? text.slice(prefix.length) : text;
    switch (type) {
      case SOCKET_CONNECT:
        this.state = "ready";
        this.readyAtMs = monotonicMs();
        this.settleReady?.();
        return;
      case SOCKET_ACK: {
        let digits = 0;
        while (digits < body.length && body.charCodeAt(digits) >= CHAR_0 && body.charCodeAt(digits) <= CHAR_0 + 9)
          digits += 1;
        const ack = this.acks.get(Number(body.slice(0, digits)));
        if (ack === undefined) return;
        this.acks.delete(Number(body.slice(0, digits)));
        const args = JSON.parse(body.slice(digits)) as unknown[];
        ack(args[0]);
        return;
      }
      case SOCKET_CONNECT_ERROR:
        this.fail(`namespace connect refused: ${body}`);
        return;
      case SOCKET_DISCONNECT:
        this.fail("the server disconnected the namespace");
        return;
    }
  }

  private onControl(opcode: number, payload: Buffer): void {
    if (opcode === OPCODE_PING) this.sendFrame(OPCODE_PONG, payload);
    else if (opcode === OPCODE_CLOSE) this.fail("the server sent a WebSocket close frame");
  }

  private sendText(text: string): void {
    this.sendFrame(OPCODE_TEXT, Buffer.from(text));
  }

  /** Writes one masked frame, as RFC 6455 requires of clients. */
  private sendFrame(opcode: number, payload: Buffer): void {
    if (this.state === "closed") return;
    let extended = 0;
    if (payload.length > 0xffff) extended = 8;
    else if (payload.length > 125) extended = 2;
    const frame = Buffer.allocUnsafe(2 + extended + 4 + payload.length);
    frame[0] = 0x80 | opcode;
    if (extended === 0) {
      frame[1] = 0x80 | payload.length;
    } else if (extended === 2) {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(payload.length, 2);
    } else {
      frame[1] = 0x80 | 127;
      frame.writeBigUInt64BE(BigInt(payload.length), 2);
    }
    const maskOffset = 2 + extended;
    randomBytes(4).copy(frame, maskOffset);
    for (let i = 0; i < payload.length; i += 1) {
      frame[maskOffset + 4 + i] = (payload[i] as number) ^ (frame[maskOffset + (i & 3)] as number);
    }
    this.socket.write(frame);
  }
}
