// A client of SpikeGLX's Remote Command API (plain-text TCP, default port 4142), written from SpikeGLX's own source.
// Facts relied on (SDK = billkarsh/SpikeGLX-CPP-SDK @a54bdb8, APP = billkarsh/SpikeGLX @b3b77f5e):
// - Port 4142, server read timeout 10 s: APP Src-remote/CmdServer.h:24-25.
// - A request is one line ending "\n": SDK Build/Comm.cpp:73,89,102 (cmd + "\n"); the server reads a line and
//   trims it (APP Src-remote/SockUtil.cpp:155-176), splits on whitespace, upper-cases the first token
//   (APP Src-remote/CmdServer.cpp:2520-2549).
// - Every reply ends "OK\n" on success (CmdServer.cpp:152,203-205) or is a single "ERROR <text>\n" line with no OK
//   after it (CmdServer.cpp:155,209-214). A query's answer lines come before the OK (CmdServer.cpp:2379-2390); the
//   SDK collects lines until "OK", throws on a line starting "ERROR", skips empty lines (SDK Build/Comm.cpp:182-210,
//   Build/NetClient.cpp:130). Unknown command: "ERROR CmdWorker: Unknown command [CMD]." (CmdServer.cpp:2549).
// - After 5 ERRORs in a row the server drops the connection (CmdServer.cpp:138-161).
// - Streams (js, ip): js 0 = nidq, 1 = OneBox, 2 = imec probe; -2 = the imec probe's filtered buffer, only FETCH
//   reads it differently (SDK General Docs/Help.txt:41-55; CmdServer.cpp:991). Bad js/ip: "ERROR <CMD>: imec
//   stream-ip must be in range[0..N]." etc. (CmdServer.cpp:244-282).
// - GETVERSION → one line, e.g. "SpikeGLX v20260709 api v4.1.3" (CmdServer.cpp:2355; APP Src-main/Version.h:6).
// - ISRUNNING → "1" or "0" (CmdServer.cpp:2361; SDK Build/SglxApi.cpp:733 reads it with stoi).
// - GETSTREAMSAMPLERATE js ip → "%f" with 6 decimals, e.g. "30000.000000" (CmdServer.cpp:704-714).
// - GETSTREAMSAMPLECOUNT js ip → unsigned 64-bit decimal; 0 when not running (CmdServer.cpp:2340-2344;
//   SDK SglxApi.cpp:513-525 reads it with stoull).
// - GETSTREAMACQCHANS js ip → one line of counts by channel type: imec "AP LF SY", nidq "MN MA XA XD", obx
//   "XA XD SY" (CmdServer.cpp:574-625; SDK SglxApi.cpp:398-420 parses space-separated ints).
// - GETSTREAMNP js → the number of streams of that type (CmdServer.cpp:676-700).
// - MAPSAMPLE dstjs dstip srcCount srcjs srcip → the dst count (CmdServer.cpp:826-876; SDK SglxApi.cpp:788);
//   same stream answers the src count token as sent.
// - FETCH js ip fromCount maxSamps "c1#c2#...#" downsample (SDK SglxApi.cpp:150-178; CmdServer.cpp:955-1121):
//   "-1#" = all channels (the SDK sends it for an empty subset), "-2#" = saved channels; the server keeps the
//   channels as a bit set, so the reply holds them ascending and unique whatever the order asked
//   (APP Src-params/Subset.cpp:14-29,135-170); downsample averages each block of samples (Subset.cpp:448-492).
//   No separate filtered-data flag: filtered data is js = -2.
//   Reply: "BINARY_DATA nChans nSamps uint64(fromCount)\n", then nChans × nSamps int16 sample-major (the SDK reads
//   them into vector<short>: little-endian on every host it ships for), then "OK\n" (CmdServer.cpp:1113-1121,
//   SDK SglxApi.cpp:173-178). With no sample available yet the header says nSamps 0 and nChans is the stream's
//   total (the subset is applied only to data, CmdServer.cpp:1083-1108). fromCount older than the ring buffer:
//   "ERROR FETCH: Too late." (CmdServer.cpp:1054-1058, APP Src-run/AIQ.cpp:550-563); never clamped.
// Not found in the source, so chosen here: how a client should treat a reply that arrives after its timeout (the
// SDK throws and flushes one byte, Build/NetClient.cpp receiveData, rcvLine) — this client closes the connection
// instead, since a late reply would be read as the answer to the next command. The SDK's client timeout is not
// in the files read; 10 s (the server's own) is the default here.

import { createConnection, type Socket } from "node:net";
import { endianness } from "node:os";
import { EphysError } from "../../../analysis/errors.ts";

export type SpikeGlxErrorCode =
  | "EPHYS_SPIKEGLX_ERROR"
  | "EPHYS_SPIKEGLX_TIMEOUT"
  | "EPHYS_SPIKEGLX_CLOSED"
  | "EPHYS_SPIKEGLX_BAD_REPLY"
  | "EPHYS_SPIKEGLX_BAD_ARGUMENT";

export class SpikeGlxError extends EphysError<SpikeGlxErrorCode> {}

export interface FetchResult {
  /** The count of the first sample returned (the server echoes the fromCount it used). */
  headCount: number;
  nChans: number;
  nSamples: number;
  /** Sample-major: data[s * nChans + k] is sample s of channels[k]. */
  data: Int16Array;
}

const DEFAULT_TIMEOUT_MS = 10_000; // the server's own read timeout, CmdServer.h:25
const LITTLE_ENDIAN_HOST = endianness() === "LE";

export class SpikeGlxClient {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private waiter: { resolve: () => void; reject: (e: Error) => void } | null = null;
  private failure: SpikeGlxError | null = null;
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly socket: Socket,
    private readonly timeoutMs: number,
    private readonly where: string,
  ) {
    socket.on("data", (b: Buffer) => {
      this.chunks.push(b);
      this.buffered += b.length;
      this.wake();
    });
    socket.on("error", () => {}); // reported through "close"
    socket.on("close", () =>
      this.fail(new SpikeGlxError("EPHYS_SPIKEGLX_CLOSED", `${where}: connection closed`)),
    );
  }

  static connect(host: string, port: number, o: { timeoutMs?: number } = {}): Promise<SpikeGlxClient> {
    const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const where = `SpikeGLX at ${host}:${port}`;
    return new Promise((resolve, reject) => {
      const socket = createConnection({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new SpikeGlxError("EPHYS_SPIKEGLX_TIMEOUT", `${where}: no connection within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once("error", (e) => {
        clearTimeout(timer);
        reject(
          new SpikeGlxError("EPHYS_SPIKEGLX_CLOSED", `${where}: cannot connect: ${e.message}`, { cause: e }),
        );
      });
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.setNoDelay(true);
        resolve(new SpikeGlxClient(socket, timeoutMs, where));
      });
    });
  }

  async getVersion(): Promise<string> {
    return this.query("GETVERSION", (s) => s);
  }

  async isRunning(): Promise<boolean> {
    return this.query("ISRUNNING", (s, cmd) => {
      if (s !== "0" && s !== "1") throw this.badReply(cmd, "0 or 1", s);
      return s === "1";
    });
  }

  async getStreamSampleRate(js: number, ip: number): Promise<number> {
    return this.query(`GETSTREAMSAMPLERATE ${int(js)} ${int(ip)}`, (s, cmd) => {
      const rate = /^[0-9]+(\.[0-9]*)?$/.test(s) ? Number(s) : Number.NaN;
      if (!Number.isFinite(rate)) throw this.badReply(cmd, "a sample rate such as 30000.000000", s);
      return rate;
    });
  }

  async getStreamSampleCount(js: number, ip: number): Promise<number> {
    return this.query(`GETSTREAMSAMPLECOUNT ${int(js)} ${int(ip)}`, (s, cmd) => this.count(cmd, s));
  }

  async getStreamAcqChans(js: number, ip: number): Promise<number[]> {
    return this.query(`GETSTREAMACQCHANS ${int(js)} ${int(ip)}`, (s, cmd) => {
      const toks = s.trim().split(/\s+/);
      if (!toks.every((t) => /^[0-9]+$/.test(t))) throw this.badReply(cmd, "space-separated counts", s);
      return toks.map(Number);
    });
  }

  async getStreamNP(js: number): Promise<number> {
    return this.query(`GETSTREAMNP ${int(js)}`, (s, cmd) => this.count(cmd, s));
  }

  /** The dst stream's count at the time of srcCount on the src stream (argument order of CmdServer.cpp:826-840). */
  async mapSample(
    dstJs: number,
    dstIp: number,
    srcCount: number,
    srcJs: number,
    srcIp: number,
  ): Promise<number> {
    const cmd = `MAPSAMPLE ${int(dstJs)} ${int(dstIp)} ${count(srcCount)} ${int(srcJs)} ${int(srcIp)}`;
    return this.query(cmd, (s) => this.count(cmd, s));
  }

  /**
   * Up to maxSamples samples from fromCount on, of exactly `channels` in that order (an empty list: all of the
   * stream's channels). js = -2 reads an imec probe's filtered buffer.
   */
  async fetch(
    js: number,
    ip: number,
    fromCount: number,
    maxSamples: number,
    channels: number[],
    downsample = 1,
  ): Promise<FetchResult> {
    const asked = channels.map(int);
    const sent = [...new Set(asked)].sort((a, b) => a - b); // the server answers ascending, unique
    if (sent.some((c) => c < 0)) throw arg(`channels must be >= 0, got ${channels.join(",")}`);
    if (!(Number.isInteger(maxSamples) && maxSamples > 0 && maxSamples < 2 ** 31))
      throw arg(`maxSamples must be a positive int32, got ${maxSamples}`);
    if (!(Number.isInteger(downsample) && downsample >= 1))
      throw arg(`downsample must be >= 1, got ${downsample}`);
    const subset = sent.length ? sent.map((c) => `${c}#`).join("") : "-1#";
    const cmd = `FETCH ${int(js)} ${int(ip)} ${count(fromCount)} ${maxSamples} ${subset} ${downsample}`;
    return this.run(cmd, async () => {
      const head = await this.line();
      if (head.startsWith("ERROR")) throw serverError(cmd, head);
      const m = /^BINARY_DATA (\d+) (\d+) uint64\((\d+)\)$/.exec(head);
      if (!m) throw this.badReply(cmd, "BINARY_DATA nChans nSamps uint64(headCt)", head);
      const nChans = Number(m[1]);
      const nSamples = Number(m[2]);
      const headCount = this.count(cmd, m[3]!);
      if (nSamples > 0 && sent.length && nChans !== sent.length)
        throw this.badReply(cmd, `${sent.length} channels`, head);
      const raw = new Int16Array(nChans * nSamples);
      await this.bytesInto(new Uint8Array(raw.buffer));
      if (!LITTLE_ENDIAN_HOST) swap16(raw);
      await this.ok(cmd);
      if (!sent.length) return { headCount, nChans, nSamples, data: raw };
      if (nSamples === 0) return { headCount, nChans: asked.length, nSamples, data: new Int16Array(0) };
      if (asked.length === sent.length && asked.every((c, k) => c === sent[k]))
        return { headCount, nChans, nSamples, data: raw };
      const col = asked.map((c) => sent.indexOf(c));
      const data = new Int16Array(asked.length * nSamples);
      for (let s = 0, o = 0; s < nSamples; s++) {
        const base = s * nChans;
        for (let k = 0; k < col.length; k++) data[o++] = raw[base + col[k]!]!;
      }
      return { headCount, nChans: asked.length, nSamples, data };
    });
  }

  async close(): Promise<void> {
    await this.chain.catch(() => {});
    if (this.socket.destroyed) return;
    await new Promise<void>((resolve) => {
      this.socket.once("close", () => resolve());
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 1000).unref();
    });
  }

  // One request and its answer lines up to "OK"; `parse` gets the first line (Comm::do1LineQuery).
  private query<T>(cmd: string, parse: (line: string, cmd: string) => T): Promise<T> {
    return this.run(cmd, async () => {
      const lines: string[] = [];
      for (;;) {
        const s = await this.line();
        if (s === "OK") break;
        if (s.startsWith("ERROR")) throw serverError(cmd, s);
        if (s.length) lines.push(s);
      }
      if (!lines.length) throw this.badReply(cmd, "an answer line before OK", "OK");
      return parse(lines[0]!, cmd);
    });
  }

  // Queues cmd behind the command in flight, sends it, and reads its reply under the timeout.
  private run<T>(cmd: string, read: () => Promise<T>): Promise<T> {
    const go = async (): Promise<T> => {
      if (this.failure) throw this.failure;
      const timer = setTimeout(() => {
        const e = new SpikeGlxError(
          "EPHYS_SPIKEGLX_TIMEOUT",
          `${this.where}: no reply to [${cmd}] in ${this.timeoutMs} ms`,
        );
        this.fail(e);
        this.socket.destroy();
      }, this.timeoutMs);
      try {
        this.socket.write(`${cmd}\n`);
        return await read();
      } finally {
        clearTimeout(timer);
        if ((this.failure as SpikeGlxError | null)?.code === "EPHYS_SPIKEGLX_TIMEOUT")
          this.failure = new SpikeGlxError(
            "EPHYS_SPIKEGLX_CLOSED",
            `${this.where}: connection closed after a timeout`,
          );
      }
    };
    const p = this.chain.then(go, go);
    this.chain = p.catch(() => {});
    return p;
  }

  private async ok(cmd: string): Promise<void> {
    const s = await this.line();
    if (s.startsWith("ERROR")) throw serverError(cmd, s);
    if (s !== "OK") throw this.badReply(cmd, "OK", s);
  }

  private async line(): Promise<string> {
    for (;;) {
      let seen = 0;
      for (let i = 0; i < this.chunks.length; i++) {
        const at = this.chunks[i]!.indexOf(10);
        if (at >= 0) {
          const text = this.take(seen + at + 1).toString("latin1");
          return text.slice(0, -1).replace(/\r$/, "");
        }
        seen += this.chunks[i]!.length;
      }
      await this.more();
    }
  }

  private async bytesInto(dst: Uint8Array): Promise<void> {
    let filled = 0;
    while (filled < dst.length) {
      if (!this.chunks.length) await this.more();
      while (this.chunks.length && filled < dst.length) {
        const c = this.chunks[0]!;
        const n = Math.min(c.length, dst.length - filled);
        dst.set(c.subarray(0, n), filled);
        filled += n;
        this.buffered -= n;
        if (n === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(n);
      }
    }
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.buffered -= n;
    return all.subarray(0, n);
  }

  private more(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.resolve();
  }

  private fail(e: SpikeGlxError): void {
    if (!this.failure) this.failure = e;
    const w = this.waiter;
    this.waiter = null;
    w?.reject(this.failure);
  }

  private count(cmd: string, s: string): number {
    const n = /^[0-9]+$/.test(s) ? Number(s) : Number.NaN;
    if (!Number.isSafeInteger(n)) throw this.badReply(cmd, "a non-negative integer below 2^53", s);
    return n;
  }

  private badReply(cmd: string, expected: string, got: string): SpikeGlxError {
    return new SpikeGlxError(
      "EPHYS_SPIKEGLX_BAD_REPLY",
      `${this.where}: reply to [${cmd}]: expected ${expected}, got ${JSON.stringify(got.slice(0, 200))}`,
    );
  }
}

function serverError(cmd: string, line: string): SpikeGlxError {
  return new SpikeGlxError("EPHYS_SPIKEGLX_ERROR", `SpikeGLX refused [${cmd}]: ${line}`);
}

function arg(message: string): SpikeGlxError {
  return new SpikeGlxError("EPHYS_SPIKEGLX_BAD_ARGUMENT", message);
}

function int(v: number): number {
  if (!Number.isInteger(v)) throw arg(`expected an integer, got ${v}`);
  return v;
}

function count(v: number): string {
  if (!(Number.isSafeInteger(v) && v >= 0)) throw arg(`expected a sample count (integer >= 0), got ${v}`);
  return String(v);
}

function swap16(a: Int16Array): void {
  const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  for (let i = 0; i < b.length; i += 2) [b[i], b[i + 1]] = [b[i + 1]!, b[i]!];
}
