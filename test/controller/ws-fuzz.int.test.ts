// Malformed WebSocket frames and HTTP requests, written as raw bytes on a TCP socket, against a real daemon on
// loopback: every endpoint, before and after its hello. Each must end that connection (with the close code RFC 6455
// gives the fault, where the daemon can still send one) and leave the daemon serving; an unhandled socket error
// would end this process and fail the run.
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { loadConfig } from "../../config/index.ts";
import { startDaemon } from "../../controller/commands/serve.ts";
import type { Daemon } from "../../controller/daemon.ts";
import { silentLogger } from "../../controller/log.ts";
import { simulatedProtocol, stall } from "./simulated-day.ts";

let daemon: Daemon;
let port: number;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "ephys-fuzz-"));
  const config = loadConfig({ env: {}, flags: { dataDir: dir, port: 0 } });
  // No display connects, so the day waits in phase 1 and the endpoints stay up.
  daemon = await startDaemon(config, {
    protocolPath: simulatedProtocol(dir),
    log: silentLogger,
    steps: { fit: () => stall() },
  });
  port = Number(new URL(daemon.url).port);
});
afterAll(async () => daemon?.stop());

interface Frame {
  opcode: number;
  payload?: Buffer;
  fin?: boolean;
  rsv?: number;
  masked?: boolean;
  /** Declared payload length, when it should differ from the payload's. */
  length?: number;
}

/** One client frame as bytes (RFC 6455 §5.2), masked unless told otherwise. */
function frame(f: Frame): Buffer {
  const payload = f.payload ?? Buffer.alloc(0);
  const length = f.length ?? payload.length;
  const masked = f.masked ?? true;
  const head: number[] = [((f.fin ?? true) ? 0x80 : 0) | ((f.rsv ?? 0) << 4) | f.opcode];
  const m = masked ? 0x80 : 0;
  let ext = Buffer.alloc(0);
  if (length < 126) head.push(m | length);
  else if (length < 65536) {
    head.push(m | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(length);
  } else {
    head.push(m | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(BigInt(length));
  }
  if (!masked) return Buffer.concat([Buffer.from(head), ext, payload]);
  const key = randomBytes(4);
  const body = Buffer.from(payload.map((b, i) => b ^ key[i % 4]));
  return Buffer.concat([Buffer.from(head), ext, key, body]);
}

const text = (s: string) => frame({ opcode: 1, payload: Buffer.from(s) });
const closeWith = (code: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code);
  return b;
};

/** The faults: what to send, and the close code the daemon answers with (null: the socket just ends). */
const faults: Array<{ name: string; bytes: () => Buffer; close: number | null }> = [
  {
    name: "a 17 MiB frame (declared length)",
    bytes: () => frame({ opcode: 1, length: 17 * 1024 * 1024, payload: Buffer.alloc(16) }),
    close: 1009,
  },
  { name: "opcode 3 (reserved)", bytes: () => frame({ opcode: 3, payload: Buffer.from("x") }), close: 1002 },
  {
    name: "invalid UTF-8 text",
    bytes: () => frame({ opcode: 1, payload: Buffer.from([0xff, 0xfe, 0x7b]) }),
    close: 1007,
  },
  { name: "a fragmented ping", bytes: () => frame({ opcode: 9, fin: false }), close: 1002 },
  {
    name: "a control frame over 125 bytes",
    bytes: () => frame({ opcode: 9, payload: Buffer.alloc(200) }),
    close: 1002,
  },
  {
    name: "RSV1 set without an extension",
    bytes: () => frame({ opcode: 1, rsv: 4, payload: Buffer.from("{}") }),
    close: 1002,
  },
  {
    name: "an unmasked client frame",
    bytes: () => frame({ opcode: 1, masked: false, payload: Buffer.from("{}") }),
    close: 1002,
  },
  { name: "close code 999", bytes: () => frame({ opcode: 8, payload: closeWith(999) }), close: 1002 },
  {
    name: "a continuation with nothing to continue",
    bytes: () => frame({ opcode: 0, payload: Buffer.from("x") }),
    close: 1002,
  },
  {
    name: "a truncated frame, then the end of the stream",
    bytes: () => frame({ opcode: 1, length: 100, payload: Buffer.from("{") }),
    close: null,
  },
];

/** A raw client: the upgrade handshake by hand; `received` collects the bytes after the 101 response. */
async function rawClient(
  path: string,
): Promise<{ socket: Socket; received: () => Buffer; ended: Promise<void> }> {
  const socket = connect(port, "127.0.0.1");
  let buffer = Buffer.alloc(0);
  let upgraded = false;
  const ended = new Promise<void>((r) => socket.on("close", () => r()));
  socket.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    socket.on("data", (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!upgraded) {
        const end = buffer.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = buffer.subarray(0, end).toString();
        if (!head.startsWith("HTTP/1.1 101")) reject(new Error(`no upgrade: ${head}`));
        upgraded = true;
        buffer = buffer.subarray(end + 4);
        resolve();
      }
    });
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
  });
  return { socket, received: () => buffer, ended };
}

/** Server frames in `bytes` (unmasked), as [opcode, payload]. */
function serverFrames(bytes: Buffer): Array<[number, Buffer]> {
  const out: Array<[number, Buffer]> = [];
  let i = 0;
  while (i + 2 <= bytes.length) {
    const opcode = bytes[i] & 0x0f;
    let len = bytes[i + 1] & 0x7f;
    let at = i + 2;
    if (len === 126) {
      len = bytes.readUInt16BE(at);
      at += 2;
    } else if (len === 127) {
      len = Number(bytes.readBigUInt64BE(at));
      at += 8;
    }
    if (at + len > bytes.length) break;
    out.push([opcode, bytes.subarray(at, at + len)]);
    i = at + len;
  }
  return out;
}

const hellos: Record<string, () => string> = {
  "/acquisition": () =>
    JSON.stringify({
      type: "hello",
      role: "acquisition",
      version: 1,
      token: daemon.token,
      bridgeId: "fuzz",
      channels: [{ id: "ch001", probe: "p", index: 0 }],
    }),
  "/display": () =>
    JSON.stringify({
      type: "hello",
      role: "display",
      version: 1,
      token: daemon.token,
      screen: { width: 800, height: 600, refreshHz: 60 },
    }),
  "/monitor": () => JSON.stringify({ type: "hello", role: "monitor", version: 1, token: daemon.token }),
};

async function stillServes(): Promise<void> {
  const health = await fetch(`${daemon.url}/health`);
  expect(await health.json()).toEqual({ ok: true });
  // A well-formed client is still welcomed.
  const ws = new WebSocket(`${daemon.wsUrl}/monitor`);
  const welcome = await new Promise<{ type: string }>((resolve, reject) => {
    ws.on("open", () => ws.send(hellos["/monitor"]()));
    ws.once("message", (raw) => resolve(JSON.parse(raw.toString())));
    ws.on("error", reject);
  });
  expect(welcome.type).toBe("welcome");
  ws.close();
}

describe("malformed WebSocket frames", () => {
  for (const path of ["/acquisition", "/display", "/monitor"])
    for (const afterHello of [false, true])
      it(`${path}, ${afterHello ? "after" : "before"} the hello: each fault closes that connection only`, async () => {
        for (const fault of faults) {
          const c = await rawClient(path);
          if (afterHello) {
            c.socket.write(text(hellos[path]()));
            // The welcome (an unmasked text frame) arrives before the fault is sent.
            const t0 = Date.now();
            while (!serverFrames(c.received()).some(([op, p]) => op === 1 && p.includes('"welcome"'))) {
              if (Date.now() - t0 > 10_000) throw new Error(`${path}: no welcome`);
              await new Promise((r) => setTimeout(r, 10));
            }
          }
          c.socket.write(fault.bytes());
          if (fault.close === null) c.socket.end();
          await c.ended;
          if (fault.close !== null) {
            const close = serverFrames(c.received()).find(([op]) => op === 8);
            expect(close, `${path} ${fault.name}: a close frame`).toBeDefined();
            expect(close![1].readUInt16BE(0), `${path} ${fault.name}`).toBe(fault.close);
          }
        }
        await stillServes();
      });

  it("writes each protocol error to the event log", () => {
    const codes = daemon.store
      .events(daemon.sessionId)
      .filter((e) => e.type === "socket" && e.subtype === "protocol-error")
      .map((e) => JSON.parse(e.content).code as string);
    // At most 10 records a minute: the first ones are there, with ws's codes.
    expect(codes.length).toBeGreaterThan(0);
    expect(codes[0]).toBe("WS_ERR_UNSUPPORTED_MESSAGE_LENGTH");
  });
});

describe("malformed HTTP requests", () => {
  async function rawHttp(request: string): Promise<string> {
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    socket.on("data", (d) => {
      answer += d.toString();
    });
    socket.on("error", () => {});
    const closed = new Promise<void>((r) => socket.on("close", () => r()));
    socket.write(request);
    await closed;
    return answer;
  }

  it("answers a garbage request line with 400, oversized headers with 431, a body with 413", async () => {
    expect(await rawHttp("GARBAGE\r\n\r\n")).toMatch(/^HTTP\/1\.1 400/);
    expect(await rawHttp(`GET /health HTTP/1.1\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`)).toMatch(
      /^HTTP\/1\.1 431/,
    );
    const body = await fetch(`${daemon.url}/api/pause?token=${daemon.token}`, {
      method: "POST",
      body: "x".repeat(100_000),
    });
    expect(body.status).toBe(413);
    expect(await body.json()).toMatchObject({ code: "EPHYS_BODY_TOO_LARGE" });
    await stillServes();
  });
});
