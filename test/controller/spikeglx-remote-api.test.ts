// SpikeGLX's Remote Command API over real TCP sockets on 127.0.0.1: the client against the emulator, the client
// against raw servers (a reply one byte at a time, silence, a dropped connection, garbage), and every transcript of
// test/fixtures/spikeglx/transcripts.json (derived from SpikeGLX's source) replayed against both sides.
import { readFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { SpikeGlxClient, SpikeGlxError } from "../../controller/bridges/spikeglx/remote-api.ts";
import { SpikeGlxServer, type StreamSource } from "../../controller/simulate/spikeglx-server.ts";

type Part = string | number[];
interface Transcript {
  request: string;
  reply: Part[];
  call: { method: string; args: unknown[] } | null;
  expect: { value?: unknown; error?: string; text?: string } | null;
  source: string;
}
interface StreamFixture {
  sampleRate: number;
  nChans: number;
  acqChans: number[];
  count: number;
}
const fixture = JSON.parse(readFileSync("test/fixtures/spikeglx/transcripts.json", "utf8")) as {
  emulator: { ringSeconds: number; version: string; ni: StreamFixture; imec: StreamFixture[] };
  transcripts: Transcript[];
};

const v = (s: number, c: number) => ((s * 7 + c * 13) % 2001) - 1000;

/** A stream whose sample s of channel c is v(s, c) and whose count is read from `at.count`. */
function source(f: Omit<StreamFixture, "count">, at: { count: number }): StreamSource {
  return {
    ...f,
    count: () => at.count,
    read(from, n, channels) {
      const out = new Int16Array(n * channels.length);
      for (let s = 0, o = 0; s < n; s++) for (const c of channels) out[o++] = v(from + s, c);
      return out;
    },
  };
}

function bytes(parts: Part[]): Buffer {
  return Buffer.concat(
    parts.map((p) =>
      typeof p === "string" ? Buffer.from(p, "latin1") : Buffer.from(new Int16Array(p).buffer),
    ),
  );
}

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function emulator(o: { count?: { count: number }; ringSeconds?: number } = {}) {
  const e = fixture.emulator;
  const server = await SpikeGlxServer.start({
    version: e.version,
    ringSeconds: o.ringSeconds ?? e.ringSeconds,
    streams: {
      ni: source(e.ni, { count: e.ni.count }),
      imec: e.imec.map((p) => source(p, o.count ?? { count: p.count })),
    },
  });
  cleanup.push(() => server.stop());
  return server;
}

async function client(port: number, timeoutMs?: number) {
  const c = await SpikeGlxClient.connect("127.0.0.1", port, { timeoutMs });
  cleanup.push(() => c.close());
  return c;
}

/** A raw TCP server: `onLine` gets each request line (without "\n") and the socket to answer on. */
async function rawServer(
  onLine: (line: string, sock: Socket) => void,
): Promise<{ port: number; lines: string[] }> {
  const lines: string[] = [];
  const server: Server = createServer((sock) => {
    let pending = "";
    sock.setNoDelay(true); // each write its own segment: the one-byte test really arrives in pieces
    sock.on("error", () => {});
    sock.on("data", (b) => {
      pending += b.toString("latin1");
      for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        lines.push(line);
        onLine(line, sock);
      }
    });
  });
  const sockets = new Set<Socket>();
  server.on("connection", (s) => sockets.add(s));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  cleanup.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as { port: number }).port, lines };
}

/** Sends raw bytes and resolves with the first `n` bytes of the answer plus anything already past them. */
function rawExchange(port: number, request: string, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const sock = connect(port, "127.0.0.1", () => sock.write(request));
    sock.on("error", reject);
    sock.on("data", (b) => {
      chunks.push(b);
      got += b.length;
      if (got >= n) {
        sock.destroy();
        resolve(Buffer.concat(chunks));
      }
    });
    sock.on("close", () => resolve(Buffer.concat(chunks)));
  });
}

function callOf(c: SpikeGlxClient, call: NonNullable<Transcript["call"]>): Promise<unknown> {
  const f = (c as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[call.method]!;
  return f.apply(c, call.args);
}

function plain(r: unknown): unknown {
  if (r && typeof r === "object" && "data" in r)
    return { ...r, data: Array.from((r as { data: Int16Array }).data) };
  return r;
}

describe("transcripts from SpikeGLX's source", () => {
  for (const t of fixture.transcripts) {
    it(`emulator answers ${JSON.stringify(t.request)} byte for byte`, async () => {
      const server = await emulator();
      const want = Buffer.concat([bytes(t.reply), Buffer.from("OK\n")]);
      // A NOOP after the request: its OK must follow the reply at once, so nothing extra came in between.
      const got = await rawExchange(server.port, `${t.request}NOOP\n`, want.length);
      expect(got.toString("latin1")).toBe(want.toString("latin1"));
    });
    if (!t.call || !t.expect) continue;
    const { call, expect: want } = t;
    it(`client sends ${JSON.stringify(t.request)} and reads its reply`, async () => {
      const raw = await rawServer((_line, sock) => sock.write(bytes(t.reply)));
      const c = await client(raw.port);
      const result = callOf(c, call);
      if (want.error) {
        await expect(result).rejects.toMatchObject({ code: want.error });
        await expect(result).rejects.toThrow(want.text!);
        await expect(result).rejects.toThrow(t.request.trim());
      } else expect(plain(await result)).toEqual(want.value);
      expect(raw.lines).toEqual([t.request.slice(0, -1)]);
    });
  }
});

describe("SpikeGlxClient ↔ SpikeGlxServer", () => {
  it("answers every command", async () => {
    const server = await emulator();
    const c = await client(server.port);
    expect(await c.getVersion()).toBe("SpikeGLX v20260709 api v4.1.3");
    expect(await c.isRunning()).toBe(true);
    expect(await c.getStreamSampleRate(2, 0)).toBe(30000);
    expect(await c.getStreamSampleRate(-2, 0)).toBe(30000);
    expect(await c.getStreamSampleCount(0, 0)).toBe(250000);
    expect(await c.getStreamAcqChans(2, 0)).toEqual([384, 0, 1]);
    expect(await c.getStreamNP(0)).toBe(1);
    expect(await c.mapSample(0, 0, 30000, 2, 0)).toBe(25000);
    expect(server.commands).toContain("MAPSAMPLE 0 0 30000 2 0");
  });

  it("fetches a channel subset in the order asked, duplicates included, and never past count()", async () => {
    const at = { count: 50_000 };
    const c = await client((await emulator({ count: at })).port);
    const r = await c.fetch(2, 0, 49_990, 100, [300, 7, 384, 7, 0]);
    expect(r.headCount).toBe(49_990);
    expect([r.nChans, r.nSamples]).toEqual([5, 10]);
    const want = Array.from({ length: 10 }, (_, s) =>
      [300, 7, 384, 7, 0].map((ch) => v(49_990 + s, ch)),
    ).flat();
    expect(Array.from(r.data)).toEqual(want);
    at.count = 50_004;
    const r2 = await c.fetch(-2, 0, 50_000, 100, [1]);
    expect(Array.from(r2.data)).toEqual([0, 1, 2, 3].map((s) => v(50_000 + s, 1)));
    const all = await c.fetch(0, 0, 249_999, 5, []);
    expect([all.nChans, all.nSamples]).toEqual([10, 1]);
  });

  it("fetches 384 channels × 30000 samples (23 MB)", async () => {
    const c = await client((await emulator({ count: { count: 40_000 } })).port);
    const chans = Array.from({ length: 384 }, (_, i) => i);
    const r = await c.fetch(2, 0, 5000, 30_000, chans);
    expect([r.nChans, r.nSamples, r.data.length]).toEqual([384, 30_000, 384 * 30_000]);
    let bad = 0;
    for (let s = 0; s < 30_000; s++)
      for (let ch = 0; ch < 384; ch++) if (r.data[s * 384 + ch] !== v(5000 + s, ch)) bad++;
    expect(bad).toBe(0);
  });

  it("refuses a fromCount older than the ring buffer, as SpikeGLX does", async () => {
    const c = await client((await emulator({ count: { count: 30_000 * 10 }, ringSeconds: 2 })).port);
    await expect(c.fetch(2, 0, 30_000 * 8 - 1, 10, [0])).rejects.toThrow("FETCH: Too late.");
    expect((await c.fetch(2, 0, 30_000 * 8, 10, [0])).nSamples).toBe(10);
  });

  it("queues concurrent commands and serves several clients at once", async () => {
    const server = await emulator();
    const [a, b] = [await client(server.port), await client(server.port)];
    const results = await Promise.all([
      a.getStreamSampleCount(2, 0),
      a.fetch(2, 0, 100_000, 2, [3]),
      b.getStreamSampleRate(0, 0),
      a.getStreamAcqChans(0, 0),
      b.getVersion(),
    ]);
    expect(results[0]).toBe(300000);
    expect(Array.from((results[1] as { data: Int16Array }).data)).toEqual([v(100_000, 3), v(100_001, 3)]);
    expect(results.slice(2).map(String)).toEqual(["25000", "8,0,1,1", "SpikeGLX v20260709 api v4.1.3"]);
  });

  it("drops a client after five errors in a row, as CmdWorker does", async () => {
    const c = await client((await emulator()).port);
    for (let i = 0; i < 5; i++)
      await expect(c.getStreamSampleRate(9, 0)).rejects.toMatchObject({ code: "EPHYS_SPIKEGLX_ERROR" });
    await expect(c.getVersion()).rejects.toMatchObject({ code: "EPHYS_SPIKEGLX_CLOSED" });
  });
});

describe("SpikeGlxClient against raw servers", () => {
  const header = (n: number) => `BINARY_DATA 3 ${n} uint64(77)\n`;
  const samples = (n: number) => Array.from({ length: 3 * n }, (_, i) => ((i * 1237) % 65536) - 32768);

  it("parses a reply written one byte at a time", async () => {
    const reply = bytes([header(50), samples(50), "OK\n"]);
    const raw = await rawServer((_line, sock) => {
      let i = 0;
      const next = () => {
        if (i < reply.length) sock.write(reply.subarray(i, ++i), () => setImmediate(next));
      };
      next();
    });
    const c = await client(raw.port);
    const r = await c.fetch(2, 0, 77, 50, [1, 2, 4]);
    expect(raw.lines).toEqual(["FETCH 2 0 77 50 1#2#4# 1"]);
    expect({ ...r, data: Array.from(r.data) }).toEqual({
      headCount: 77,
      nChans: 3,
      nSamples: 50,
      data: samples(50),
    });
  });

  it("parses two replies that arrive in one chunk", async () => {
    const raw = await rawServer((line, sock) => {
      if (line.startsWith("FETCH")) sock.write(bytes([header(2), samples(2), "OK\n", "12\nOK\n"]));
    });
    const c = await client(raw.port);
    const [r, n] = await Promise.all([c.fetch(2, 0, 77, 2, [0, 1, 2]), c.getStreamSampleCount(2, 0)]);
    expect(Array.from(r.data)).toEqual(samples(2));
    expect(n).toBe(12);
  });

  it("turns ERROR into SpikeGlxError with the server's text and the command", async () => {
    const raw = await rawServer((_l, sock) =>
      sock.write("ERROR GETSTREAMSAMPLECOUNT: imec stream not enabled.\n"),
    );
    const c = await client(raw.port);
    const e = await c.getStreamSampleCount(2, 3).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SpikeGlxError);
    expect(e).toMatchObject({ code: "EPHYS_SPIKEGLX_ERROR" });
    expect((e as Error).message).toContain("GETSTREAMSAMPLECOUNT 2 3");
    expect((e as Error).message).toContain("imec stream not enabled.");
  });

  it("times out, then refuses further commands on that connection", async () => {
    const raw = await rawServer(() => {});
    const c = await client(raw.port, 150);
    await expect(c.getVersion()).rejects.toMatchObject({ code: "EPHYS_SPIKEGLX_TIMEOUT" });
    await expect(c.isRunning()).rejects.toMatchObject({ code: "EPHYS_SPIKEGLX_CLOSED" });
  });

  it("reports a connection closed mid-reply", async () => {
    const raw = await rawServer((_l, sock) => sock.end(bytes([header(10), samples(3)])));
    const c = await client(raw.port);
    await expect(c.fetch(2, 0, 77, 10, [0, 1, 2])).rejects.toMatchObject({ code: "EPHYS_SPIKEGLX_CLOSED" });
  });

  it("refuses unparseable replies, saying what was expected", async () => {
    const answers = ["12.5\nOK\n", "BANANA 3 2\n", "9007199254740993\nOK\n"];
    const raw = await rawServer((_l, sock) => sock.write(answers.shift()!));
    const c = await client(raw.port);
    await expect(c.getStreamSampleCount(2, 0)).rejects.toThrow(/expected a non-negative integer.*"12.5"/);
    await expect(c.fetch(2, 0, 0, 2, [1])).rejects.toThrow(
      /expected BINARY_DATA nChans nSamps uint64\(headCt\)/,
    );
    await expect(c.getStreamSampleCount(2, 0)).rejects.toMatchObject({ code: "EPHYS_SPIKEGLX_BAD_REPLY" });
  });
});
