// A SpikeGLX command server for the tests and the demo: speaks what SpikeGLX's CmdWorker speaks
// (billkarsh/SpikeGLX Src-remote/CmdServer.cpp; the facts, with lines, are at the top of
// controller/bridges/spikeglx/remote-api.ts) for one optional nidq stream and any number of imec probes. Streams
// are always running and their parameters always validated; OneBox streams (js 1) are not emulated. js -2 (an
// imec probe's filtered buffer) reads the same source as js 2.

import { createServer, type Server, type Socket } from "node:net";
import { endianness } from "node:os";

export interface StreamSource {
  /** Hz, as GETSTREAMSAMPLERATE reports. */
  sampleRate: number;
  /** Total saved/acquired channels of the stream. */
  nChans: number;
  /** What GETSTREAMACQCHANS answers for this stream type (imec: AP LF SY; nidq: MN MA XA XD). */
  acqChans: number[];
  /** Samples acquired so far (grows with time). */
  count(): number;
  /** Sample-major n × channels.length. */
  read(from: number, n: number, channels: number[]): Int16Array;
}

export interface SpikeGlxServerOptions {
  host?: string;
  /** 0 = any free port (SpikeGLX's default is 4142). */
  port?: number;
  streams: { ni?: StreamSource; imec: StreamSource[] };
  /** dst count for a src count (MAPSAMPLE); default: by sample-rate ratio. */
  mapSample?: (dst: { js: number; ip: number }, srcCount: number, src: { js: number; ip: number }) => number;
  version?: string;
  /** Length of each stream's ring buffer, seconds of samples; FETCH before it answers "Too late". Default 8. */
  ringSeconds?: number;
}

// SpikeGLX's own version string format (Src-main/Version.h:6).
export const EMULATED_VERSION = "SpikeGLX v20260709 api v4.1.3";
const MAX_ERRORS = 5; // consecutive ERRORs before the worker drops the client (CmdServer.cpp:138-161)

type Reply = { text: string } | { error: string } | { binary: Buffer[] };

export class SpikeGlxServer {
  readonly commands: string[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private readonly o: SpikeGlxServerOptions,
  ) {}

  get port(): number {
    const a = this.server.address();
    return typeof a === "object" && a ? a.port : 0;
  }

  static async start(o: SpikeGlxServerOptions): Promise<SpikeGlxServer> {
    const server = createServer();
    const s = new SpikeGlxServer(server, o);
    server.on("connection", (sock) => s.serve(sock));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(o.port ?? 0, o.host ?? "127.0.0.1", () => resolve());
    });
    return s;
  }

  async stop(): Promise<void> {
    for (const sock of this.sockets) sock.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The bytes SpikeGLX would send for one request line (without its "\n"); the OK/ERROR tail included. */
  reply(line: string): Buffer {
    const r = this.handle(line);
    if ("error" in r) return Buffer.from(`ERROR ${r.error}\n`, "latin1");
    if ("text" in r) return Buffer.from(`${r.text}OK\n`, "latin1");
    return Buffer.concat([...r.binary, Buffer.from("OK\n")]);
  }

  private serve(sock: Socket): void {
    this.sockets.add(sock);
    sock.setNoDelay(true);
    sock.on("close", () => this.sockets.delete(sock));
    sock.on("error", () => {});
    let pending = "";
    let errors = 0;
    sock.on("data", (b: Buffer) => {
      pending += b.toString("latin1");
      for (let nl = pending.indexOf("\n"); nl >= 0 && !sock.destroyed; nl = pending.indexOf("\n")) {
        const line = pending.slice(0, nl).trim(); // QTcpSocket::readLine().trimmed(), SockUtil.cpp:176
        pending = pending.slice(nl + 1);
        if (!line.length) continue; // empty lines get no answer, CmdServer.cpp:150
        this.commands.push(line);
        const out = this.reply(line);
        sock.write(out);
        errors = out.subarray(0, 6).toString() === "ERROR " ? errors + 1 : 0;
        if (errors >= MAX_ERRORS) sock.end();
      }
    });
  }

  private handle(line: string): Reply {
    const toks = line.split(/\s+/).filter((t) => t.length);
    const cmd = toks.shift()!.toUpperCase();
    switch (cmd) {
      case "NOOP":
        return { text: "" };
      case "GETVERSION":
        return { text: `${this.o.version ?? EMULATED_VERSION}\n` };
      case "ISRUNNING":
        return { text: "1\n" };
      case "GETSTREAMNP":
        return this.streamNP(toks);
      case "GETSTREAMSAMPLERATE":
        return this.withStream(cmd, toks, (s) => ({ text: `${s.sampleRate.toFixed(6)}\n` }));
      case "GETSTREAMSAMPLECOUNT":
        return this.withStream(cmd, toks, (s) => ({ text: `${s.count()}\n` }));
      case "GETSTREAMACQCHANS":
        return this.withStream(cmd, toks, (s) => ({ text: `${s.acqChans.join(" ")}\n` }));
      case "MAPSAMPLE":
        return this.mapSample(toks);
      case "FETCH":
        return this.fetch(toks);
      default:
        return { error: `CmdWorker: Unknown command [${cmd}].` };
    }
  }

  // CmdServer.cpp:676-700.
  private streamNP(toks: string[]): Reply {
    if (toks.length < 1) return { error: "GETSTREAMNP: Requires parameter js." };
    const js = toInt(toks[0]!);
    if (js === 0) return { text: `${this.o.streams.ni ? 1 : 0}\n` };
    if (js === 1) return { text: "0\n" };
    if (Math.abs(js) === 2) return { text: `${this.o.streams.imec.length}\n` };
    return { error: "GETSTREAMNP: js must be in set {-2,0,1,2}." };
  }

  // okjsip, CmdServer.cpp:244-282: the stream of (js, ip) or the error text naming cmd.
  private stream(cmd: string, js: number, ip: number): StreamSource | string {
    if (js === 0) return this.o.streams.ni ?? `${cmd}: nidq stream not enabled.`;
    if (js === 1) return `${cmd}: obx stream not enabled.`;
    if (Math.abs(js) === 2) {
      const np = this.o.streams.imec.length;
      if (!np) return `${cmd}: imec stream not enabled.`;
      return this.o.streams.imec[ip] && ip >= 0
        ? this.o.streams.imec[ip]!
        : `${cmd}: imec stream-ip must be in range[0..${np - 1}].`;
    }
    return `${cmd}: stream-js must be in set {-2,0,1,2}.`;
  }

  // okStreamToks, CmdServer.cpp:289-299.
  private withStream(
    cmd: string,
    toks: string[],
    f: (s: StreamSource, js: number, ip: number) => Reply,
  ): Reply {
    if (toks.length < 2) return { error: `${cmd}: Requires at least 2 params.` };
    const js = toInt(toks[0]!);
    const ip = toInt(toks[1]!);
    const s = this.stream(cmd, js, ip);
    return typeof s === "string" ? { error: s } : f(s, js, ip);
  }

  // CmdServer.cpp:826-876: dst (js ip), src count, src (js ip); the same stream echoes the count token.
  private mapSample(toks: string[]): Reply {
    if (toks.length < 5) return { error: "MAPSAMPLE: Requires at least 5 params." };
    const dst = { js: Math.abs(toInt(toks[0]!)), ip: toInt(toks[1]!) };
    const src = { js: Math.abs(toInt(toks[3]!)), ip: toInt(toks[4]!) };
    const d = this.stream("MAPSAMPLE (dst)", toInt(toks[0]!), dst.ip);
    if (typeof d === "string") return { error: d };
    const s = this.stream("MAPSAMPLE (src)", toInt(toks[3]!), src.ip);
    if (typeof s === "string") return { error: s };
    if (dst.js === src.js && dst.ip === src.ip) return { text: `${toks[2]!.trim()}\n` };
    const srcCount = toInt(toks[2]!);
    const mapped = this.o.mapSample
      ? this.o.mapSample(dst, srcCount, src)
      : Math.round((srcCount * d.sampleRate) / s.sampleRate);
    return { text: `${mapped}\n` };
  }

  // CmdServer.cpp:955-1121 with AIQ::getNSampsFromCt (Src-run/AIQ.cpp:550-569) and Subset (Src-params/Subset.cpp).
  private fetch(toks: string[]): Reply {
    if (toks.length < 4) return { error: "FETCH: Requires at least 4 params." };
    return this.withStream("FETCH", toks, (src) => {
      let nChans = src.nChans;
      let keep: number[] = [...Array(nChans).keys()];
      const pattern = toks[4];
      const all =
        pattern === undefined || ["-1#", "-2#", "", "*"].includes(pattern) || /^all$/i.test(pattern);
      if (!all) {
        const cl = pattern.split("#").filter((c) => c.length);
        if (!cl.length) return { error: "Bad channel string format." };
        const bits = new Set<number>();
        for (const c of cl.map(toInt)) {
          if (c < 0 || c >= nChans) return { error: `Channel ${c} out of range [0..${nChans - 1}].` };
          bits.add(c);
        }
        keep = [...bits].sort((a, b) => a - b);
      }
      const dnsmp = toks.length >= 6 ? toUInt(toks[5]!) : 1;
      const fromCt = toInt(toks[2]!);
      const nMax = toInt(toks[3]!);
      const endCt = src.count();
      const headCt = endCt - Math.min(endCt, Math.round((this.o.ringSeconds ?? 8) * src.sampleRate));
      if (fromCt < headCt) return { error: "FETCH: Too late." };
      const n = fromCt >= endCt ? 0 : Math.max(0, Math.min(nMax, endCt - fromCt));
      let data: Int16Array = new Int16Array(0);
      if (n > 0) {
        data = src.read(fromCt, n, keep);
        nChans = keep.length;
        if (dnsmp > 1) data = downsample(data, nChans, dnsmp);
      }
      const head = Buffer.from(`BINARY_DATA ${nChans} ${data.length / nChans} uint64(${fromCt})\n`, "latin1");
      return { binary: [head, le16(data)] };
    });
  }
}

// Subset::downsample (Subset.cpp:448-492): each block of dnsmp samples (the last may be shorter) averaged,
// truncated toward zero by the qint16 cast.
function downsample(src: Int16Array, nChans: number, dnsmp: number): Int16Array {
  const nt = src.length / nChans;
  const out = new Int16Array(Math.ceil(nt / dnsmp) * nChans);
  for (let t = 0, o = 0; t < nt; t += dnsmp, o += nChans) {
    const ns = Math.min(nt - t, dnsmp);
    for (let c = 0; c < nChans; c++) {
      let sum = 0;
      for (let s = 0; s < ns; s++) sum += src[(t + s) * nChans + c]!;
      out[o + c] = Math.trunc(sum / ns);
    }
  }
  return out;
}

function le16(a: Int16Array): Buffer {
  if (endianness() === "LE") return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const b = Buffer.allocUnsafe(a.length * 2);
  for (let i = 0; i < a.length; i++) b.writeInt16LE(a[i]!, i * 2);
  return b;
}

// QString::toInt / toLongLong: the whole token as a decimal integer, else 0.
function toInt(t: string): number {
  return /^[+-]?[0-9]+$/.test(t) ? Number(t) : 0;
}

// QString::toUInt: a negative or malformed token reads 0.
function toUInt(t: string): number {
  return /^\+?[0-9]+$/.test(t) ? Number(t) : 0;
}
