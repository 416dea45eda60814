// The daemon: one HTTP server on the configured address with the control API, the display page and stimulus
// images, and three WebSocket endpoints (/acquisition, /display, /monitor); the day machine with its actors;
// every transition persisted. A restarted daemon resumes the newest unfinished session where it stopped.
// Over 400 lines: the composition root: it wires the store, hubs, machine, HTTP routes and sockets together;
// the logic it calls lives in day/, acquisition/, monitor/ and http-api.ts.
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { type WebSocket, WebSocketServer } from "ws";
import { type Actor, createActor } from "xstate";
import type { z } from "zod";
import { type Config, ensureToken, resolvePaths } from "../config/index.ts";
import { type LoadedProtocol, loadProtocol, parseProtocol } from "../protocols/index.ts";
import { AcquisitionHub } from "./acquisition/acquisition-hub.ts";
import { tokenMatches } from "./auth.ts";
import { createDayActors, type DaySteps } from "./day/actors.ts";
import { stepContext } from "./day/context.ts";
import { createDayMachine, type DayEvent, type DayMachine, stateName } from "./day/machine.ts";
import { FRAGMENTS_READY } from "./day/phase3-parts.ts";
import { handleHttp } from "./http-api.ts";
import type { Logger } from "./log.ts";
import { MonitorState } from "./monitor/monitor-state.ts";
import { codeVersion, softwareVersions } from "./provenance.ts";
import type { BoxHandle, BoxLinkState } from "./rig/box-handle.ts";
import { RigSession } from "./rig/rig-session.ts";
import { alwaysFixating, type DisplayPort } from "./scheduler/rig-ports.ts";
import { inlineWriter, startWriterWorker } from "./store/ingest-writer.ts";
import { type SessionMetadata, SessionStore } from "./store/store.ts";
import { ACQUISITION_VERSION, acquisitionHello } from "./wire/acquisition.ts";
import { DISPLAY_VERSION, displayHello } from "./wire/display.ts";
import { describeIssues } from "./wire/errors.ts";
import { MONITOR_VERSION, monitorHello } from "./wire/monitor.ts";

export type DisplayFactory = (
  ws: WebSocket,
  hello: z.infer<typeof displayHello>,
) => DisplayPort & {
  preload(s: Array<{ id: string; url: string }>): Promise<{ ok: boolean; failed: string[] }>;
};

export type BoxFactory = (path: string, baudRate: number) => Promise<BoxHandle>;

export interface DaemonOptions {
  config: Config;
  log: Logger;
  /** Start a new session from this protocol; without it the newest unfinished session resumes. */
  protocolPath?: string;
  /** Subject, rig, probe, depth and region of a new session (provenance). */
  metadata?: SessionMetadata;
  /** Multiplies every protocol duration (1 = real time). */
  timeScale?: number;
  createDisplay: DisplayFactory;
  createBox?: BoxFactory;
  /** Overrides of the step implementations (tests). */
  steps?: Partial<DaySteps>;
  /** Where the built display page lives (served at /display/). */
  displayDir?: string;
  /** Where the built monitor dashboard lives (served at /monitor/). */
  monitorDir?: string;
  dataTimeoutMs?: number;
}

const HELLO_TIMEOUT_MS = 5000;
const MAX_FRAME_BYTES = 16 * 1024 * 1024;
const HEARTBEAT_MS = 10_000;
const MAX_HEADER_BYTES = 16 * 1024;

export class Daemon {
  readonly store: SessionStore;
  readonly token: string;
  sessionId!: string;
  loaded!: LoadedProtocol;
  actor!: Actor<DayMachine>;
  hub!: AcquisitionHub;
  /** Live per-channel statistics and alerts for /monitor (controller/monitor). */
  monitor!: MonitorState;
  private server!: Server;
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
  private display: ReturnType<DisplayFactory> | null = null;
  private displayWaiters: Array<(d: DisplayPort) => void> = [];
  private box: Awaited<ReturnType<BoxFactory>> | null = null;
  /** Eye, photodiode and calibration of a version 2 rig box (controller/rig/rig-session.ts). */
  private rig: RigSession | null = null;
  private readonly monitors = new Set<WebSocket>();
  private heartbeat?: NodeJS.Timeout;
  private stopped = false;
  private readonly finished: Promise<string>;
  private resolveFinished!: (state: string) => void;
  private readonly errorRecords = rateLimit(10, 60_000);

  constructor(private readonly opts: DaemonOptions) {
    const paths = resolvePaths(opts.config);
    this.store = new SessionStore(paths.dbPath);
    this.token = ensureToken(opts.config);
    this.finished = new Promise((r) => {
      this.resolveFinished = r;
    });
  }

  get url(): string {
    const a = this.server.address() as AddressInfo;
    return `http://${a.address.includes(":") ? `[${a.address}]` : a.address}:${a.port}`;
  }

  get wsUrl(): string {
    return this.url.replace(/^http/, "ws");
  }

  /** Resolves with the final state name (done, failed, aborted) when the day ends. */
  whenFinished(): Promise<string> {
    return this.finished;
  }

  async start(): Promise<void> {
    const { config, log } = this.opts;
    this.openSession();
    this.monitor = new MonitorState({
      store: this.store,
      sessionId: this.sessionId,
      protocol: this.loaded.protocol,
      onError: (e) =>
        log.error({ err: e }, `monitor: a dashboard update failed (the day goes on): ${e.message}`),
    });
    // Acquisition transactions run on a writer thread of their own, so a commit's fsync never stalls the loop.
    const { db } = this.store;
    this.hub = new AcquisitionHub({
      store: this.store,
      writer: db.memory ? inlineWriter(this.store) : await startWriterWorker(db.name),
      sessionId: this.sessionId,
      windows: {
        baseline: this.loaded.protocol.windows.baseline,
        response: this.loaded.protocol.windows.response,
      },
      onIngested: (trials) => this.monitor.ingest(trials),
      onWarning: (code, message) => log.warn({ code }, message),
    });
    this.store.onEvent((e) => this.broadcastMonitor(e));
    if (config.rig.serialPath && this.opts.createBox) {
      this.box = await this.opts.createBox(config.rig.serialPath, config.rig.baudRate);
      const onStatus = (status: BoxLinkState, reason: string) => {
        if (this.stopped) return;
        this.store.appendEvent(this.sessionId, "rig", status, { reason, path: config.rig.serialPath });
        if (status === "lost" || status === "waiting") log.warn(reason);
        else log.info(reason);
      };
      this.box.onStatus(onStatus);
      // The first open may have settled (or started waiting) before the listener was there.
      onStatus(this.box.link.state, this.box.link.reason);
      this.rig = new RigSession({
        box: this.box,
        store: this.store,
        sessionId: this.sessionId,
        protocol: this.loaded.protocol,
        config,
        log,
        broadcast: (m) => {
          const text = JSON.stringify(m);
          for (const ws of this.monitors) if (ws.readyState === ws.OPEN) ws.send(text);
        },
        display: () => this.display,
        dayState: () => (this.actor ? stateName(this.actor.getSnapshot().value) : "preparing"),
      });
    } else
      log.warn("no rig box configured (rig.serialPath): fixation is not monitored, rewards are not given");
    this.server = createServer(
      { maxHeaderSize: MAX_HEADER_BYTES, headersTimeout: 10_000, requestTimeout: 30_000 },
      (req, res) =>
        handleHttp(
          {
            token: this.token,
            store: this.store,
            sessionId: this.sessionId,
            status: () => this.status(),
            send: (e) => this.actor.send(e),
            rig: this.rig,
            displayDir: this.opts.displayDir,
            monitorDir: this.opts.monitorDir,
          },
          req,
          res,
        ),
    );
    this.server.on("clientError", (err, socket) => this.httpClientError(err, socket));
    this.wss.on("error", (err) => this.socketError("(server)", err));
    this.server.on("upgrade", (req, socket, head) => {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      if (!["/acquisition", "/display", "/monitor"].includes(path)) {
        socket.destroy();
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onSocket(ws, path));
    });
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(config.port, config.bind, () => resolve());
    });
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
    log.info(`ephysloop daemon on ${this.url} — session ${this.sessionId} (${this.loaded.protocol.name})`);
    this.startMachine();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.heartbeat);
    this.rig?.stop();
    this.actor?.stop();
    await this.hub?.close();
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    await this.box?.close();
    this.monitor?.close();
    this.store.close();
  }

  send(event: DayEvent): void {
    this.actor.send(event);
  }

  status() {
    const snap = this.actor.getSnapshot();
    const trials = this.store.trials(this.sessionId);
    return {
      sessionId: this.sessionId,
      protocol: this.loaded.protocol.name,
      state: stateName(snap.value),
      pauseReason: snap.context.pauseReason,
      failedReason: snap.context.failedReason,
      trials: {
        shown: trials.filter((t) => t.status === "shown").length,
        voided: trials.filter((t) => t.status === "voided").length,
      },
      acquisitionConnected: this.hub.connected,
      displayConnected: this.display !== null,
      boxConnected: this.box?.link.state === "connected",
      rig: this.box ? this.box.link : null,
      /** The rig box's protocol version (1, 2; null: not known yet, or no box). */
      boxVersion: this.box?.serial?.version ?? null,
    };
  }

  private openSession(): void {
    const { protocolPath, metadata } = this.opts;
    if (protocolPath) {
      this.loaded = loadProtocol(protocolPath);
      this.sessionId = `${new Date().toISOString().slice(0, 10)}-${this.loaded.protocol.name}-${randomUUID().slice(0, 8)}`;
      this.store.createSession({
        id: this.sessionId,
        protocolName: this.loaded.protocol.name,
        protocolPath: this.loaded.path,
        protocolText: this.loaded.text,
        protocolSha256: this.loaded.sha256,
        codeVersion: codeVersion(),
        software: softwareVersions(),
        seed: this.loaded.protocol.seed,
        ...metadata,
      });
      return;
    }
    const row = this.store.resumableSession();
    if (!row)
      throw Object.assign(new Error("no session to resume: start one with --protocol FILE"), {
        code: "EPHYS_NO_SESSION",
      });
    this.sessionId = row.id;
    // The stored text is the session's protocol, whatever the file says now.
    this.loaded = {
      protocol: parseProtocol(row.protocol_text, row.protocol_path),
      text: row.protocol_text,
      sha256: row.protocol_sha256,
      path: row.protocol_path,
    };
    // A phase-3 session an earlier version left: phase 3 now makes its maps and fragments while it presents, a part
    // per channel (controller/day/machine.ts, phase3-parts.ts). A snapshot in visualizing or fragmenting would not
    // restore or would skip phase 3; one in phase 3 or testing has its trials in one set of blocks for every channel
    // (told apart by fragments stored without the "fragments/channel-ready" event this version appends).
    const beforeParts =
      (row.state.startsWith("phase3") || row.state === "testing") &&
      this.store.artifacts(row.id, "fragments").length > 0 &&
      this.store
        .latestEvents(row.id, FRAGMENTS_READY.type, 100_000)
        .every((e) => e.subtype !== FRAGMENTS_READY.subtype);
    if (
      this.loaded.protocol.phase3 &&
      (row.state === "visualizing" || row.state === "fragmenting" || beforeParts)
    )
      throw Object.assign(
        new Error(
          `session ${row.id} stopped in state ${row.state} of an earlier version's phase 3, which this version ` +
            `runs differently (it makes the maps and fragments while phase 3 presents, a part per channel); resume ` +
            `it with the version that started it (code ${row.code_version})`,
        ),
        { code: "EPHYS_SESSION_STATE_RETIRED" },
      );
    const voided = this.store.voidPendingTrials(row.id, "interrupted by a daemon restart");
    this.store.appendEvent(row.id, "session", "resumed", { state: row.state, voidedPending: voided });
  }

  private startMachine(): void {
    const row = this.store.getSession(this.sessionId)!;
    const ctx = stepContext({
      store: this.store,
      sessionId: this.sessionId,
      loaded: this.loaded,
      config: this.opts.config,
      log: this.opts.log,
    });
    const machine = createDayMachine(
      createDayActors({
        ctx,
        box: this.box,
        rig: {
          box: this.box ?? alwaysFixating,
          display: (ids) => this.waitForDisplay(ids),
          acquisition: this.hub,
          timeScale: this.opts.timeScale ?? 1,
          dataTimeoutMs: this.opts.dataTimeoutMs,
          stopping: () => this.stopped,
        },
        steps: this.opts.steps,
      }),
    );
    const snapshot = row.snapshot ? JSON.parse(row.snapshot) : undefined;
    this.actor = createActor(machine, {
      input: { sessionId: this.sessionId, phase3: this.loaded.protocol.phase3 !== undefined },
      ...(snapshot ? { snapshot } : {}),
    });
    let last = "";
    this.actor.subscribe({
      next: (snap) => {
        const name = stateName(snap.value);
        if (name === last && snap.status === "active") return;
        last = name;
        this.store.saveSnapshot(
          this.sessionId,
          name,
          this.actor.getPersistedSnapshot(),
          snap.context.failedReason ?? undefined,
          snap.context.abortedBy ?? undefined,
        );
        if (snap.context.failedReason && name === "failing")
          this.opts.log.error(`${name}: ${snap.context.failedReason}`);
        else
          this.opts.log.info(
            `state ${name}${snap.context.pauseReason ? ` (${snap.context.pauseReason})` : ""}`,
          );
        if (snap.status === "done") this.resolveFinished(name);
      },
      error: (err) => {
        this.opts.log.error({ err }, "day machine error");
        this.resolveFinished("failed");
      },
    });
    this.actor.start();
  }

  private async waitForDisplay(stimulusIds: string[]): Promise<DisplayPort> {
    const display = this.display ?? (await new Promise<DisplayPort>((r) => this.displayWaiters.push(r)));
    const d = display as ReturnType<DisplayFactory>;
    const result = await d.preload(
      stimulusIds.map((id) => ({
        id,
        url: `/stimuli/${encodeURIComponent(id)}?token=${encodeURIComponent(this.token)}`,
      })),
    );
    if (!result.ok)
      throw new Error(
        `the display could not load ${result.failed.length} image(s): ${result.failed.slice(0, 5).join(", ")}`,
      );
    return d;
  }

  private onSocket(ws: WebSocket, path: string): void {
    const fail = (code: string, message: string, close?: number) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: "error", code, message }));
      if (close) ws.close(close, code);
    };
    const timer = setTimeout(
      () => fail("EPHYS_HELLO_TIMEOUT", `expected a hello within ${HELLO_TIMEOUT_MS} ms`, 4408),
      HELLO_TIMEOUT_MS,
    );
    // A protocol error (oversized frame, bad opcode or UTF-8, bad close code, reserved bits, unmasked frame) makes
    // `ws` close the connection with the matching close code (1002, 1007, 1009) and emit 'error'; without this
    // listener Node would end the process. The connection ends, the daemon goes on.
    ws.on("error", (err: Error & { code?: string }) => {
      clearTimeout(timer);
      this.socketError(path, err);
    });
    (ws as WebSocket & { alive?: boolean }).alive = true;
    ws.on("pong", () => {
      (ws as WebSocket & { alive?: boolean }).alive = true;
    });
    ws.once("message", (raw, isBinary) => {
      clearTimeout(timer);
      if (isBinary)
        return fail("EPHYS_BAD_HELLO", "expected the hello as a JSON text frame, got a binary frame", 4400);
      let json: unknown;
      try {
        json = JSON.parse(raw.toString());
      } catch (e) {
        return fail("EPHYS_BAD_HELLO", `the hello is not valid JSON: ${(e as Error).message}`, 4400);
      }
      const schema =
        path === "/acquisition" ? acquisitionHello : path === "/display" ? displayHello : monitorHello;
      const version =
        path === "/acquisition"
          ? ACQUISITION_VERSION
          : path === "/display"
            ? DISPLAY_VERSION
            : MONITOR_VERSION;
      const parsed = schema.safeParse(json);
      if (!parsed.success) return fail("EPHYS_BAD_HELLO", describeIssues(parsed.error, json), 4400);
      if (!tokenMatches(this.token, parsed.data.token))
        return fail("EPHYS_UNAUTHORIZED", "the token does not match", 4401);
      if (parsed.data.version !== version)
        return fail(
          "EPHYS_BAD_VERSION",
          `protocol version ${parsed.data.version} is not supported; expected ${version}`,
          4426,
        );
      if (path === "/acquisition") {
        const hello = parsed.data as z.infer<typeof acquisitionHello>;
        const refusal = this.hub.admit(hello);
        if (refusal) {
          this.store.appendEvent(this.sessionId, "acquisition", "refused", {
            code: refusal.code,
            message: refusal.message,
          });
          return fail(refusal.code, refusal.message, refusal.close);
        }
        this.hub.attach(ws, hello);
      } else if (path === "/display") this.attachDisplay(ws, parsed.data as z.infer<typeof displayHello>);
      else this.attachMonitor(ws);
    });
  }

  private attachDisplay(ws: WebSocket, hello: z.infer<typeof displayHello>): void {
    const link = this.opts.createDisplay(ws, hello);
    this.display = link;
    ws.send(JSON.stringify({ type: "welcome", sessionId: this.sessionId }));
    this.store.appendEvent(this.sessionId, "display", "connected", hello.screen);
    for (const w of this.displayWaiters.splice(0)) w(link);
    ws.on("close", () => {
      if (this.display === link) this.display = null;
      if (!this.stopped) this.store.appendEvent(this.sessionId, "display", "disconnected", {});
    });
  }

  private attachMonitor(ws: WebSocket): void {
    this.monitors.add(ws);
    ws.send(JSON.stringify({ type: "welcome", sessionId: this.sessionId, status: this.status() }));
    ws.on("close", () => this.monitors.delete(ws));
    this.monitor.attach(ws);
    this.rig?.attachMonitor(ws);
  }

  private broadcastMonitor(e: {
    id: number;
    t: number;
    type: string;
    subtype: string;
    content: string;
    session_id: string | null;
  }): void {
    if (this.monitors.size === 0) return;
    const text = JSON.stringify({
      type: "event",
      id: e.id,
      t: e.t,
      eventType: e.type,
      subtype: e.subtype,
      content: JSON.parse(e.content),
    });
    for (const ws of this.monitors) if (ws.readyState === ws.OPEN) ws.send(text);
  }

  /** A WebSocket protocol error on one connection: a warning and an event record (at most 10 a minute). */
  private socketError(path: string, err: Error & { code?: string }): void {
    if (this.stopped) return;
    const code = err.code ?? "EPHYS_SOCKET_ERROR";
    this.opts.log.warn({ code, path }, `${path}: ${err.message}; the connection was closed`);
    if (this.errorRecords.allow())
      this.store.appendEvent(this.sessionId, "socket", "protocol-error", {
        path,
        code,
        message: err.message,
      });
  }

  /** A malformed or slow HTTP request (bad headers, headers too large, timeout): answered and closed. */
  private httpClientError(err: Error & { code?: string }, socket: Duplex): void {
    if (!this.stopped && err.code !== "ECONNRESET" && this.errorRecords.allow())
      this.store.appendEvent(this.sessionId, "socket", "http-error", {
        code: err.code,
        message: err.message,
      });
    if (!socket.writable || err.code === "ECONNRESET") {
      socket.destroy();
      return;
    }
    const status =
      err.code === "HPE_HEADER_OVERFLOW"
        ? "431 Request Header Fields Too Large"
        : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? "408 Request Timeout"
          : "400 Bad Request";
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  }

  private beat(): void {
    for (const ws of this.wss.clients) {
      const w = ws as WebSocket & { alive?: boolean };
      if (w.alive === false) {
        ws.terminate();
        continue;
      }
      w.alive = false;
      ws.ping();
    }
  }
}

/** allow() is true for the first `n` calls in each window of `ms`. */
function rateLimit(n: number, ms: number): { allow(): boolean } {
  let start = 0;
  let count = 0;
  return {
    allow() {
      const t = Date.now();
      if (t - start > ms) {
        start = t;
        count = 0;
      }
      return ++count <= n;
    },
  };
}
