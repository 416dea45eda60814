// Acquisition ingest: sustained trials/s for 384 channels on loopback, with zero loss and zero double count.
// The server is the real thing: a SessionStore on a temporary file (WAL, synchronous=FULL) and an AcquisitionHub
// behind a ws server that checks the hello exactly as the daemon does (controller/daemon.ts onSocket). The bridge
// runs in a worker thread (its own event loop and core): it says hello, waits for the announced trials, and
// sends one `spikes` message per trial (384 channels, Poisson spikes at 10–40 Hz over −100..+300 ms) as fast as
// acks allow with a window of in-flight messages; 1 % of the messages are sent twice, and halfway through the
// warm-up the server drops the connection (messages not yet read are lost, and acks of stored ones), the bridge
// reconnects and replays everything after welcome.lastAckedSeq. The client counts each channel's spikes in
// the protocol's windows itself; afterwards the database is checked against that: every trial stored once, every
// (trial, channel) with the client's counts, spike times and nothing else.
// Baseline, in the same run: the real rig's 2 trials/s (the headline ratio is measured trials/s ÷ 2); the rate
// the body-patch protocol's timing implies is printed next to it. Then a profile of the server's per-message work
// on the messages that were sent: the byte-level parser next to the JSON.parse + zod path it replaces, the SQLite
// transaction, and what the daemon's monitor adds per trial.
//
// The transactions run on the daemon's writer worker thread (controller/store/ingest-writer.ts), as in the daemon.
//
//   npm run bench:ingest       (BENCH_TRIALS=3000 measured trials, BENCH_WARMUP=500, BENCH_WINDOW=64;
//                               BENCH_WRITER=inline to run the transactions on the server thread instead;
//                               BENCH_SYNCHRONOUS=NORMAL|OFF to see what the fsyncs cost — diagnostic only, inline)
// Over 400 lines: a benchmark is one script a lab runs and reads top to bottom: server, worker-thread bridge,
// faults and report in one place.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { WebSocket, WebSocketServer } from "ws";
import type { z } from "zod";
import { mulberry32, type Random } from "../analysis/random.ts";
import { AcquisitionHub } from "../controller/acquisition/acquisition-hub.ts";
import { SpikesParser } from "../controller/acquisition/spikes-parser.ts";
import { tokenMatches } from "../controller/auth.ts";
import { MonitorState } from "../controller/monitor/monitor-state.ts";
import { inlineWriter, startWriterWorker } from "../controller/store/ingest-writer.ts";
import { countsOf, type PackedTrial, packSpikes, spikesOf, windowTable } from "../controller/store/packed.ts";
import { SessionStore } from "../controller/store/store.ts";
import {
  ACQUISITION_VERSION,
  type AcquisitionServerMessage,
  acquisitionClientMessage,
  acquisitionHello,
  type SpikesMessage,
} from "../controller/wire/acquisition.ts";
import { describeIssues } from "../controller/wire/errors.ts";
import { parseProtocol } from "../protocols/load.ts";
import type { Protocol } from "../protocols/schema.ts";

const CHANNELS = 384;
const REAL_RIG_TRIALS_PER_S = 2;
const MAX_FRAME_BYTES = 16 * 1024 * 1024; // as the daemon's WebSocketServer
const FIRST_TRIAL_ID = 10_001; // trial ids ≠ seqs, so that a mix-up shows
const TOKEN = "bench-token";

interface Window {
  startMs: number;
  endMs: number;
}

interface ClientConfig {
  url: string;
  channels: number;
  warmup: number;
  trials: number;
  window: number;
  duplicateRate: number;
  seed: number;
  windows: { baseline: Window; response: Window };
}

/** What the client sent, per message index (seq − 1), for the checks against the database. */
interface ClientReport {
  trialIds: Int32Array;
  /** [message][channel][baseline, response, spikes]. */
  expected: Int32Array;
  /** [message][channel]: Σ float32(t) in sending order, to compare with the stored float32 blob. */
  spikeSums: Float64Array;
  /** Ack latency (ms, send → ack) of each measured message. */
  latencies: Float64Array;
  measuredMs: number;
  measuredBytes: number;
  measuredFrames: number;
  duplicatesSent: number;
  duplicateAcks: number;
  reconnects: number;
  welcomeAfterDrop: number;
  replayed: number;
  errors: Array<{ code: string; message: string; seq?: number }>;
  samples: string[];
}

if (isMainThread) await main();
else await runClient(workerData as ClientConfig);

// ---------------------------------------------------------------------------------------------------------------
// The bridge (worker thread).

async function runClient(cfg: ClientConfig): Promise<void> {
  const total = cfg.warmup + cfg.trials;
  const random = mulberry32(cfg.seed);
  const channels = Array.from({ length: cfg.channels }, (_, i) => ({
    id: `ch${i}`,
    probe: "probe0",
    index: i,
  }));
  const rates = channels.map(() => 10 + 30 * random()); // spikes/s, fixed per channel
  const report: ClientReport = {
    trialIds: new Int32Array(total),
    expected: new Int32Array(total * cfg.channels * 3),
    spikeSums: new Float64Array(total * cfg.channels),
    latencies: new Float64Array(cfg.trials),
    measuredMs: 0,
    measuredBytes: 0,
    measuredFrames: 0,
    duplicatesSent: 0,
    duplicateAcks: 0,
    reconnects: 0,
    welcomeAfterDrop: -1,
    replayed: 0,
    errors: [],
    samples: [],
  };
  const announced: number[] = [];
  const known = new Set<number>(); // a reconnect re-announces trials without data
  const unacked = new Map<number, { text: string; sentAt: number }>();
  let nextIndex = 0; // messages built so far; seq = index + 1
  let measureStart = 0;
  let ws: WebSocket;
  let warmupDone = false;
  let connected = false;
  let done: () => void;
  const finished = new Promise<void>((r) => {
    done = r;
  });

  const build = (index: number): string => {
    const trialId = announced[index];
    report.trialIds[index] = trialId;
    const out: Record<string, number[]> = {};
    for (let c = 0; c < cfg.channels; c++) {
      const spikes = poisson(random, -100, 300, rates[c]);
      out[channels[c].id] = spikes;
      let b = 0;
      let r = 0;
      let sum = 0;
      for (const t of spikes) {
        if (t >= cfg.windows.baseline.startMs && t < cfg.windows.baseline.endMs) b++;
        if (t >= cfg.windows.response.startMs && t < cfg.windows.response.endMs) r++;
        sum += Math.fround(t);
      }
      const k = (index * cfg.channels + c) * 3;
      report.expected[k] = b;
      report.expected[k + 1] = r;
      report.expected[k + 2] = spikes.length;
      report.spikeSums[index * cfg.channels + c] = sum;
    }
    return JSON.stringify({ type: "spikes", seq: index + 1, trialId, channels: out });
  };

  const send = (text: string, measured: boolean) => {
    ws.send(text);
    if (measured) {
      report.measuredBytes += Buffer.byteLength(text);
      report.measuredFrames++;
    }
  };

  const prebuilt = new Map<number, string>();
  const pump = () => {
    if (!connected) return;
    while (unacked.size < cfg.window && nextIndex < total && nextIndex < announced.length) {
      const index = nextIndex++;
      const measured = index >= cfg.warmup;
      if (index === cfg.warmup) measureStart = performance.now();
      const text = prebuilt.get(index) ?? build(index);
      prebuilt.delete(index);
      unacked.set(index + 1, { text, sentAt: performance.now() });
      send(text, measured);
      if (measured && report.samples.length < 200) report.samples.push(text);
      if (random() < cfg.duplicateRate) {
        send(text, measured);
        report.duplicatesSent++;
      }
    }
  };

  const connect = () => {
    ws = new WebSocket(`${cfg.url}/acquisition`);
    ws.on("open", () =>
      ws.send(JSON.stringify({ type: "hello", role: "acquisition", version: 1, token: TOKEN, channels })),
    );
    ws.on("message", (raw) => {
      const m = JSON.parse(raw.toString()) as AcquisitionServerMessage;
      if (m.type === "welcome") {
        if (report.reconnects > 0) report.welcomeAfterDrop = m.lastAckedSeq;
        for (const seq of [...unacked.keys()]) if (seq <= m.lastAckedSeq) unacked.delete(seq);
        connected = true;
        for (const seq of [...unacked.keys()].sort((a, b) => a - b)) {
          ws.send(unacked.get(seq)!.text);
          report.replayed++;
        }
        pump();
      } else if (m.type === "trial") {
        if (known.has(m.trialId)) return;
        known.add(m.trialId);
        announced.push(m.trialId);
        if (announced.length === total)
          // The measured messages are built before the clock starts: the bench times the server, not the
          // generator (Poisson draws and JSON.stringify of 384 arrays cost this thread more than the server's ingest).
          for (let i = nextIndex; i < total; i++) prebuilt.set(i, build(i));
        if (announced.length === cfg.warmup || announced.length === total) pump();
      } else if (m.type === "ack") {
        const u = unacked.get(m.seq);
        if (!u) {
          report.duplicateAcks++;
          return;
        }
        unacked.delete(m.seq);
        if (m.seq > cfg.warmup) report.latencies[m.seq - 1 - cfg.warmup] = performance.now() - u.sentAt;
        if (nextIndex === total && unacked.size === 0) {
          report.measuredMs = performance.now() - measureStart;
          parentPort!.postMessage({ kind: "measured" });
          done();
          return;
        }
        if (nextIndex === cfg.warmup && unacked.size === 0 && !warmupDone) {
          warmupDone = true;
          parentPort!.postMessage({ kind: "warmup-done" }); // announcements of the measured trials follow
        }
        pump();
      } else if (m.type === "error") report.errors.push(m);
    });
    ws.on("close", () => {
      connected = false;
      if (nextIndex < total || unacked.size > 0) {
        report.reconnects++;
        setTimeout(connect, 20);
      }
    });
  };
  connect();
  await finished;
  await new Promise((r) => setTimeout(r, 200)); // acks of late duplicates
  ws!.close();
  parentPort!.postMessage({ kind: "report", report }, [
    report.trialIds.buffer,
    report.expected.buffer,
    report.spikeSums.buffer,
    report.latencies.buffer,
  ] as ArrayBuffer[]);
}

/** Homogeneous Poisson spike times on [fromMs, toMs) at rateHz, exponential intervals, rounded to 0.01 ms. */
function poisson(random: Random, fromMs: number, toMs: number, rateHz: number): number[] {
  const out: number[] = [];
  let t = fromMs;
  for (;;) {
    t += (-Math.log(1 - random()) * 1000) / rateHz;
    if (t >= toMs) return out;
    out.push(Math.round(t * 100) / 100);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The server (main thread) and the checks.

async function main(): Promise<void> {
  const trials = Number(process.env.BENCH_TRIALS ?? 3000);
  const warmup = Number(process.env.BENCH_WARMUP ?? 500);
  const window = Number(process.env.BENCH_WINDOW ?? 64);
  const protocolPath = new URL("../protocols/body-patch.yaml", import.meta.url);
  const protocol = parseProtocol(readFileSync(protocolPath, "utf8"), "protocols/body-patch.yaml");
  const windows = { baseline: protocol.windows.baseline, response: protocol.windows.response };
  const p = protocol.presentation;
  const perSequenceMs = p.stimuliPerFixation * (p.stimulusMs + p.isiMs) + p.rewardMs + p.interSequenceMs;
  console.log(`machine: load ${loadavg()[0].toFixed(2)}, node ${process.version}`);
  console.log(
    `baseline: real rig ${REAL_RIG_TRIALS_PER_S} trials/s (body-patch timing: ${(1000 / (p.stimulusMs + p.isiMs)).toFixed(2)} ` +
      `trials/s within a sequence, ${((1000 * p.stimuliPerFixation) / perSequenceMs).toFixed(2)} with rewards and pauses)`,
  );

  const dir = mkdtempSync(join(tmpdir(), "ephysloop-bench-ingest-"));
  const store = new SessionStore(join(dir, "session.db"));
  const synchronous = process.env.BENCH_SYNCHRONOUS; // diagnostic only: the daemon always runs FULL
  if (synchronous) {
    store.db.pragma(`synchronous = ${synchronous}`);
    console.log(
      `DIAGNOSTIC RUN: synchronous = ${synchronous} (the daemon uses FULL); not the product's number`,
    );
  }
  const sessionId = "bench-ingest";
  store.createSession({
    id: sessionId,
    protocolName: protocol.name,
    protocolPath: protocolPath.pathname,
    protocolText: "bench",
    protocolSha256: "0".repeat(64),
    codeVersion: "bench",
    software: { node: process.version },
    seed: 1,
  });
  // The writer: a worker thread with its own connection, as the daemon runs it; inline on request (and for the
  // synchronous diagnostic, which only the server thread's connection gets). Timed from the request to the
  // commit (the server thread waits for none of it when the writer is a worker), with the batch sizes.
  const writerKind = process.env.BENCH_WRITER === "inline" || synchronous ? "inline" : "worker";
  const writer =
    writerKind === "inline" ? inlineWriter(store) : await startWriterWorker(join(dir, "session.db"));
  let ingestMs = 0;
  let transactions = 0;
  let batched = 0;
  const write = writer.write.bind(writer);
  writer.write = async (sid: string, messages: readonly PackedTrial[]) => {
    const t0 = performance.now();
    try {
      return await write(sid, messages);
    } finally {
      ingestMs += performance.now() - t0;
      transactions++;
      batched += messages.length;
    }
  };
  const ingestedTimes = new Map<number, number>();
  const bridges = new Set<WebSocket>();
  let dropDone = false;
  const hub = new AcquisitionHub({
    store,
    writer,
    sessionId,
    windows,
    maxMessageBytes: 4 * 1024 * 1024,
    onIngested: (ts) => {
      for (const t of ts)
        ingestedTimes.set(t.trialId, (ingestedTimes.get(t.trialId) ?? 0) + t.channelIds.length / CHANNELS);
      if (!dropDone && ingestedTimes.size >= warmup / 2) {
        dropDone = true;
        for (const ws of bridges) ws.terminate();
      }
    },
  });

  // The daemon's hello handling (controller/daemon.ts onSocket), minus the other endpoints.
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, maxPayload: MAX_FRAME_BYTES });
  await new Promise<void>((r) => wss.once("listening", () => r()));
  wss.on("connection", (ws) => {
    bridges.add(ws);
    ws.on("close", () => bridges.delete(ws));
    ws.once("message", (raw, isBinary) => {
      const fail = (code: string, message: string, close: number) => {
        ws.send(JSON.stringify({ type: "error", code, message }));
        ws.close(close, code);
      };
      let json: unknown;
      try {
        json = isBinary ? undefined : JSON.parse(raw.toString());
      } catch {
        json = undefined;
      }
      const parsed = acquisitionHello.safeParse(json);
      if (!parsed.success) return fail("EPHYS_BAD_HELLO", describeIssues(parsed.error), 4400);
      if (!tokenMatches(TOKEN, parsed.data.token))
        return fail("EPHYS_UNAUTHORIZED", "the token does not match", 4401);
      if (parsed.data.version !== ACQUISITION_VERSION) return fail("EPHYS_BAD_VERSION", "bad version", 4426);
      hub.attach(ws, parsed.data as z.infer<typeof acquisitionHello>);
    });
  });
  const port = (wss.address() as { port: number }).port;

  const cfg: ClientConfig = {
    url: `ws://127.0.0.1:${port}`,
    channels: CHANNELS,
    warmup,
    trials,
    window,
    duplicateRate: 0.01,
    seed: 42,
    windows,
  };
  // tsx's loader does not reach worker threads on Node 20 (`execArgv: ["--import", "tsx"]` still fails with
  // ERR_UNKNOWN_FILE_EXTENSION), so the worker imports this file through tsx's API.
  const self = JSON.stringify(import.meta.url);
  const worker = new Worker(
    `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((m) => m.tsImport(${self}, ${self}))`,
    { eval: true, workerData: cfg },
  );
  // As the phase runner does: each presentation is stored as pending, then announced.
  const announce = (from: number, count: number) => {
    for (let i = from; i < from + count; i++) {
      const t = { trialId: FIRST_TRIAL_ID + i, eventCode: 1 + (i % 475), stimulusId: `s${i % 475}` };
      store.recordTrial(sessionId, { ...t, phase: 1, block: Math.floor(i / 475), status: "pending" });
      hub.announce(t);
    }
  };
  let elu = performance.eventLoopUtilization();
  let cpu0 = mainThreadCpuMs();
  let serverCpuMs = Number.NaN;
  let measuredIngestMs = 0;
  let measuredTransactions = 0;
  let measuredBatched = 0;
  const report = await new Promise<ClientReport>((resolve, reject) => {
    worker.on("error", reject);
    worker.on("message", (m: { kind: string; report?: ClientReport }) => {
      if (m.kind === "warmup-done") {
        // Counters restart for the measured part; its trials are announced before it starts.
        ingestMs = 0;
        transactions = 0;
        batched = 0;
        announce(warmup, trials);
        elu = performance.eventLoopUtilization();
        cpu0 = mainThreadCpuMs();
      } else if (m.kind === "measured") {
        elu = performance.eventLoopUtilization(elu);
        serverCpuMs = mainThreadCpuMs() - cpu0;
        measuredIngestMs = ingestMs;
        measuredTransactions = transactions;
        measuredBatched = batched;
      } else if (m.kind === "report") resolve(m.report!);
    });
    // Announce the warm-up once the bridge is connected (announcements go to connected bridges only).
    const waitForBridge = setInterval(() => {
      if (hub.connected > 0) {
        clearInterval(waitForBridge);
        announce(0, warmup);
      }
    }, 5);
  });
  await worker.terminate();

  // Checks against the database.
  const total = warmup + trials;
  const problems: string[] = [];
  const check = (ok: boolean, what: string) => {
    if (!ok) problems.push(what);
  };
  check(report.errors.length === 0, `server errors: ${JSON.stringify(report.errors.slice(0, 3))}`);
  const messages = store.db
    .prepare("SELECT seq, trial_id FROM acquisition_messages WHERE session_id = ? ORDER BY seq")
    .all(sessionId) as Array<{ seq: number; trial_id: number }>;
  check(messages.length === total, `${messages.length} messages stored, expected ${total}`);
  for (const [i, m] of messages.entries())
    if (m.seq !== i + 1 || m.trial_id !== report.trialIds[i]) {
      problems.push(
        `message ${i}: stored seq ${m.seq} trial ${m.trial_id}, sent seq ${i + 1} trial ${report.trialIds[i]}`,
      );
      break;
    }
  const indexOfTrial = new Map<number, number>();
  for (let i = 0; i < total; i++) indexOfTrial.set(report.trialIds[i], i);
  check(indexOfTrial.size === total, "the bridge sent a trial id twice");
  const seen = new Uint8Array(total * CHANNELS);
  let rowCount = 0;
  let mismatches = 0;
  for (const part of store.trialData(sessionId))
    part.channelIds.forEach((channelId, ch) => {
      rowCount++;
      const i = indexOfTrial.get(part.trialId);
      const c = Number(channelId.slice(2));
      if (i === undefined || !(c >= 0 && c < CHANNELS)) {
        mismatches++;
        return;
      }
      seen[i * CHANNELS + c]++;
      const k = (i * CHANNELS + c) * 3;
      const counts = countsOf(part, ch);
      const stored = spikesOf(part, ch) ?? new Float32Array(0);
      let sum = 0;
      for (const t of stored) sum += t;
      if (
        Object.keys(counts).length !== 2 ||
        counts.baseline !== report.expected[k] ||
        counts.response !== report.expected[k + 1] ||
        stored.length !== report.expected[k + 2] ||
        sum !== report.spikeSums[i * CHANNELS + c]
      ) {
        if (mismatches < 3)
          problems.push(
            `trial ${part.trialId} ${channelId}: stored ${JSON.stringify(counts)} with ${stored.length} spikes, sent ` +
              `baseline ${report.expected[k]} response ${report.expected[k + 1]} with ${report.expected[k + 2]} spikes`,
          );
        mismatches++;
      }
    });
  check(rowCount === total * CHANNELS, `${rowCount} (trial, channel) rows, expected ${total * CHANNELS}`);
  check(mismatches === 0, `${mismatches} (trial, channel) rows differ from what was sent`);
  check(
    seen.every((n) => n === 1),
    `${seen.filter((n) => n !== 1).length} (trial, channel) pairs not stored exactly once`,
  );
  const onceInMonitor = [...ingestedTimes.values()].every((n) => n === 1) && ingestedTimes.size === total;
  check(onceInMonitor, `onIngested saw ${ingestedTimes.size} trials, some more than once`);
  check(
    report.duplicateAcks >= report.duplicatesSent,
    `${report.duplicatesSent} duplicates sent, ${report.duplicateAcks} acks for them`,
  );
  check(
    store.lastAckedSeq(sessionId) === total,
    `lastAckedSeq ${store.lastAckedSeq(sessionId)}, expected ${total}`,
  );
  check(
    report.reconnects === 1 && report.welcomeAfterDrop >= warmup / 2 && report.replayed > 0,
    `the warm-up's reconnect and replay did not happen (${report.reconnects} reconnects, ${report.replayed} replayed)`,
  );
  check(store.integrityCheck() === "ok", "SQLite integrity check failed");

  const seconds = report.measuredMs / 1000;
  const rate = trials / seconds;
  const lat = [...report.latencies].sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  const meanSpikes = report.expected.reduce((s, v, i) => (i % 3 === 2 ? s + v : s), 0) / (total * CHANNELS);
  console.log(
    `workload: ${CHANNELS} channels, ${meanSpikes.toFixed(1)} spikes/channel/trial, ` +
      `${(report.measuredBytes / report.measuredFrames / 1024).toFixed(1)} KiB/message, window ${window} in flight, ` +
      `${report.duplicatesSent} duplicate sends; warm-up ${warmup} trials with a dropped connection ` +
      `(welcome.lastAckedSeq ${report.welcomeAfterDrop}, ${report.replayed} replayed)`,
  );
  console.log(
    `measured: ${trials} trials in ${seconds.toFixed(2)} s — ${rate.toFixed(0)} trials/s, ` +
      `${(report.measuredFrames / seconds).toFixed(0)} messages/s, ${(report.measuredBytes / 1e6 / seconds).toFixed(1)} MB/s; ` +
      `ack latency p50 ${q(0.5).toFixed(1)} ms, p99 ${q(0.99).toFixed(1)} ms`,
  );
  console.log(
    `server thread: event loop ${(100 * elu.utilization).toFixed(0)} % busy, CPU ${(serverCpuMs / trials).toFixed(2)} ms/trial ` +
      `(→ ≈ ${(1000 / (serverCpuMs / trials)).toFixed(0)} trials/s on an uncontended core, fsync waits aside); ` +
      `${writerKind} writer: ${measuredTransactions} transactions of ${(measuredBatched / Math.max(1, measuredTransactions)).toFixed(1)} ` +
      `messages, request to commit ${(measuredIngestMs / Math.max(1, measuredTransactions)).toFixed(1)} ms each ` +
      `(${((100 * measuredIngestMs) / report.measuredMs).toFixed(0)} % of wall time)`,
  );
  console.log(
    `checks: ${total} trials × ${CHANNELS} channels stored exactly once with the client's window counts and spike ` +
      `times: ${problems.length === 0 ? "ok" : "FAILED"}`,
  );
  for (const pr of problems) console.log(`  ${pr}`);

  profile(report.samples, windows, sessionId, protocol);

  await hub.close();
  await new Promise<void>((r) => wss.close(() => r()));
  store.close();
  rmSync(dir, { recursive: true, force: true });
  if (problems.length) process.exitCode = 1;
  console.log(
    `ingest: ${rate.toFixed(0)} trials/s (${(rate / REAL_RIG_TRIALS_PER_S).toFixed(0)}× 2 trials/s real rig)`,
  );
}

/** CPU time (user + system, ms) of this process's main thread, from /proc (Linux; NaN elsewhere). */
function mainThreadCpuMs(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return Number.NaN;
  }
}

/**
 * The server's per-message steps one at a time, on messages the bridge sent: CPU ms per trial (best of 5 passes;
 * process CPU time, the bridge has stopped by now), the one number that load from other processes barely moves.
 * The fast parser (bytes → packed trial, window counts and digest in one pass) next to the slow path it replaces
 * for canonical messages (JSON.parse, zod, packing), then the SQLite transaction of packed rows.
 */
function profile(
  samples: string[],
  windows: { baseline: Window; response: Window },
  sessionId: string,
  protocol: Protocol,
): void {
  if (samples.length === 0) return;
  const n = samples.length;
  const buffers = samples.map((s) => Buffer.from(s));
  const table = windowTable(windows);
  const cpu = (fn: () => void) => {
    let best = Number.POSITIVE_INFINITY;
    for (let pass = 0; pass < 5; pass++) {
      const c0 = process.cpuUsage();
      fn();
      const c = process.cpuUsage(c0);
      best = Math.min(best, (c.user + c.system) / 1000 / n);
    }
    return best;
  };
  const parser = new SpikesParser(table);
  let packed: PackedTrial[] = [];
  const tFast = cpu(() => {
    packed = buffers.map((b) => parser.parse(b)!);
  });
  let parsedJson: unknown[] = [];
  const tParse = cpu(() => {
    parsedJson = buffers.map((b) => JSON.parse(b.toString("utf8")));
  });
  let valid: SpikesMessage[] = [];
  const tZod = cpu(() => {
    valid = parsedJson.map((j) => acquisitionClientMessage.parse(j) as SpikesMessage);
  });
  let slow: PackedTrial[] = [];
  const tPack = cpu(() => {
    slow = valid.map((m) => packSpikes(m.seq, m.trialId, m.channels, table));
  });
  const agree = packed.every(
    (p, i) =>
      p !== null &&
      p.digest === slow[i].digest &&
      p.counts.every((v, k) => v === slow[i].counts[k]) &&
      p.spikes!.every((v, k) => v === slow[i].spikes![k]),
  );
  const dir = mkdtempSync(join(tmpdir(), "ephysloop-bench-profile-"));
  let files = 0;
  const sqlite = (batch: number): number =>
    cpu(() => {
      const store = benchStore(join(dir, `p${files++}.db`), sessionId);
      for (let i = 0; i < n; i += batch) store.ingestPacked(sessionId, packed.slice(i, i + batch));
      store.close();
    });
  const tSql1 = sqlite(1);
  const tSql4 = sqlite(4);
  const tSql16 = sqlite(16);
  const tSql64 = sqlite(64);
  // What the daemon does next with each stored message: the monitor's per-channel PSTH, rates and silence
  // (controller/monitor), here with every channel new each pass (a fresh MonitorState per pass).
  const monitorStore = benchStore(join(dir, "monitor.db"), sessionId);
  for (const m of packed)
    monitorStore.recordTrial(sessionId, {
      trialId: m.trialId,
      phase: 1,
      block: 0,
      stimulusId: `s${m.trialId % 475}`,
      eventCode: 1,
      status: "shown",
    });
  const tMonitor = cpu(() => {
    const monitor = new MonitorState({ store: monitorStore, sessionId, protocol });
    for (const m of packed) monitor.ingest([m]);
    monitor.close();
  });
  monitorStore.close();
  rmSync(dir, { recursive: true, force: true });
  const total = tFast + tSql16;
  console.log(
    `profile (CPU ms per trial, ${n} messages): fast parser ${tFast.toFixed(3)} (the slow path it replaces: ` +
      `JSON.parse ${tParse.toFixed(2)} + zod ${tZod.toFixed(2)} + packing ${tPack.toFixed(2)}; same digests, counts ` +
      `and float32 times: ${agree ? "yes" : "NO"}), SQLite ingest ${tSql16.toFixed(3)} with 16 messages per transaction ` +
      `(1 / 4 / 64: ${tSql1.toFixed(3)} / ${tSql4.toFixed(3)} / ${tSql64.toFixed(3)}) — ${total.toFixed(2)} ms in all, ` +
      `≈ ${(1000 / total).toFixed(0)} trials/s per core before WebSocket framing and fsync waits; the daemon's ` +
      `monitor then adds ${tMonitor.toFixed(3)} ms per trial (not part of the measured ingest)`,
  );
}

/** A session store on a fresh file with one session, for the profile's passes. */
function benchStore(path: string, sessionId: string): SessionStore {
  const store = new SessionStore(path);
  store.createSession({
    id: sessionId,
    protocolName: "bench",
    protocolPath: "/bench",
    protocolText: "bench",
    protocolSha256: "0".repeat(64),
    codeVersion: "bench",
    software: {},
    seed: 1,
  });
  return store;
}
