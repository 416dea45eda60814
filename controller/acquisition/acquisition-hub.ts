// The server side of /acquisition: validates each bridge message, turns spike times into window counts, stores a
// batch of messages in one transaction, and acks only after the commit. A repeated seq is acked and not stored twice.
import type { WebSocket } from "ws";
import type { z } from "zod";
import type { SessionStore } from "../store/store.ts";
import {
  type AcquisitionClientMessage,
  type AcquisitionServerMessage,
  acquisitionClientMessage,
  type acquisitionHello,
  type SpikesMessage,
} from "../wire/acquisition.ts";
import { describeIssue } from "../wire/errors.ts";
import { countInWindows, type NamedWindows, spanOf } from "./windows.ts";

export interface TrialAnnouncement {
  trialId: number;
  eventCode: number;
  stimulusId: string;
}

/** What one stored trial carried, for the monitor (PSTHs, live rates). */
export interface IngestedTrial {
  trialId: number;
  channels: Array<{ channelId: string; counts: Record<string, number>; spikes?: number[] }>;
}

export interface AcquisitionHubOptions {
  store: SessionStore;
  sessionId: string;
  windows: NamedWindows;
  /** Largest accepted message in bytes; larger ones get an error frame and are dropped. */
  maxMessageBytes?: number;
  onIngested?: (trials: IngestedTrial[]) => void;
  onWarning?: (code: string, message: string) => void;
}

interface Pending {
  ws: WebSocket;
  seq: number;
  data: IngestedTrial;
}

export class AcquisitionHub {
  private readonly clients = new Set<WebSocket>();
  private channelIds = new Set<string>();
  private pending: Pending[] = [];
  private flushScheduled = false;
  private maxTrialId: number;
  private readonly waiters = new Set<() => void>();
  private closed = false;
  private flushTimer?: NodeJS.Timeout;

  constructor(private readonly opts: AcquisitionHubOptions) {
    const trials = opts.store.trials(opts.sessionId);
    this.maxTrialId = trials.length ? trials[trials.length - 1].trialId : 0;
    for (const c of opts.store.channels(opts.sessionId)) this.channelIds.add(c.id);
  }

  get connected(): number {
    return this.clients.size;
  }

  get channels(): string[] {
    return [...this.channelIds];
  }

  /** Take over an authenticated connection whose hello was valid. */
  attach(ws: WebSocket, hello: z.infer<typeof acquisitionHello>): void {
    const { store, sessionId } = this.opts;
    store.upsertChannels(sessionId, hello.channels);
    for (const c of hello.channels) this.channelIds.add(c.id);
    store.appendEvent(sessionId, "acquisition", "connected", { channels: hello.channels.length });
    this.clients.add(ws);
    this.send(ws, {
      type: "welcome",
      sessionId,
      lastAckedSeq: store.lastAckedSeq(sessionId),
      window: spanOf(this.opts.windows),
    });
    // Trials announced while no bridge was connected (or whose data never arrived) are announced again, so a
    // bridge that reconnects can send what it recorded for them.
    const have = store.trialsWithData(sessionId, Math.max(1, this.channelIds.size));
    for (const t of store.trials(sessionId))
      if (t.status !== "voided" && !have.has(t.trialId))
        this.send(ws, {
          type: "trial",
          trialId: t.trialId,
          eventCode: t.eventCode,
          stimulusId: t.stimulusId,
        });
    ws.on("message", (raw, isBinary) => this.onMessage(ws, raw as Buffer, isBinary));
    ws.on("close", () => {
      this.clients.delete(ws);
      if (this.closed) return;
      store.appendEvent(sessionId, "acquisition", "disconnected", {});
      this.opts.onWarning?.("EPHYS_ACQUISITION_LOST", "the acquisition bridge disconnected");
    });
  }

  /** Tell every bridge that a presentation starts (bridges map event codes to trials with it). */
  announce(t: TrialAnnouncement): void {
    this.maxTrialId = Math.max(this.maxTrialId, t.trialId);
    for (const ws of this.clients) this.send(ws, { type: "trial", ...t });
  }

  /** Resolves once every listed trial has data for every channel, or after timeoutMs; returns the missing ids. */
  async waitForData(trialIds: number[], timeoutMs: number, signal?: AbortSignal): Promise<number[]> {
    const { store, sessionId } = this.opts;
    const missing = () => {
      const have = store.trialsWithData(sessionId, Math.max(1, this.channelIds.size));
      return trialIds.filter((id) => !have.has(id));
    };
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = missing();
      if (m.length === 0 || Date.now() >= deadline || signal?.aborted) return m;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(250, Math.max(1, deadline - Date.now())));
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.add(done);
      });
      this.waiters.clear();
    }
  }

  close(): void {
    this.closed = true;
    for (const ws of this.clients) ws.close(1001, "daemon shutting down");
    this.clients.clear();
  }

  private send(ws: WebSocket, m: AcquisitionServerMessage): void {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(m));
  }

  private error(ws: WebSocket, code: string, message: string, seq?: number): void {
    this.send(ws, { type: "error", code, message, ...(seq !== undefined ? { seq } : {}) });
    this.opts.onWarning?.(code, message);
  }

  private onMessage(ws: WebSocket, raw: Buffer, isBinary: boolean): void {
    const max = this.opts.maxMessageBytes ?? 4 * 1024 * 1024;
    if (isBinary) return this.error(ws, "EPHYS_BAD_MESSAGE", "expected a JSON text frame, got binary");
    if (raw.length > max)
      return this.error(
        ws,
        "EPHYS_MESSAGE_TOO_LARGE",
        `message of ${raw.length} bytes exceeds the limit of ${max} bytes`,
      );
    let json: unknown;
    try {
      json = JSON.parse(raw.toString("utf8"));
    } catch (e) {
      return this.error(ws, "EPHYS_BAD_MESSAGE", `not valid JSON: ${(e as Error).message}`);
    }
    // Fast path for the common, well-formed spikes message; anything else goes through zod for its error text.
    const fast = isPlainSpikes(json);
    const parsed = fast
      ? { success: true as const, data: json as AcquisitionClientMessage }
      : acquisitionClientMessage.safeParse(json);
    const seq =
      typeof (json as { seq?: unknown })?.seq === "number" ? (json as { seq: number }).seq : undefined;
    if (!parsed.success) return this.error(ws, "EPHYS_BAD_MESSAGE", describeIssue(parsed.error), seq);
    const m = parsed.data;
    if (m.type === "hello")
      return this.error(ws, "EPHYS_BAD_MESSAGE", "hello was already received on this connection");
    if (m.trialId > this.maxTrialId)
      return this.error(
        ws,
        "EPHYS_UNKNOWN_TRIAL",
        `trialId ${m.trialId} was never announced (last ${this.maxTrialId})`,
        m.seq,
      );
    const unknown = Object.keys(m.channels).filter((id) => !this.channelIds.has(id));
    if (unknown.length)
      return this.error(
        ws,
        "EPHYS_UNKNOWN_CHANNEL",
        `channels not announced in hello: ${unknown.slice(0, 5).join(", ")}`,
        m.seq,
      );
    const data: IngestedTrial = {
      trialId: m.trialId,
      channels: Object.entries(m.channels).map(([channelId, v]) =>
        m.type === "spikes"
          ? { channelId, counts: countInWindows(v as number[], this.opts.windows), spikes: v as number[] }
          : { channelId, counts: v as Record<string, number> },
      ),
    };
    this.pending.push({ ws, seq: m.seq, data });
    // Gather what arrives within a few ms into one transaction (one commit per batch, not per message).
    if (this.pending.length >= 64) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.flushTimer = setTimeout(() => this.flush(), 2);
    }
  }

  /** One transaction for everything that arrived in this turn of the event loop, then the acks. */
  private flush(): void {
    this.flushScheduled = false;
    clearTimeout(this.flushTimer);
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    const { store, sessionId } = this.opts;
    let isNew: boolean[];
    try {
      isNew = store.ingest(
        sessionId,
        batch.map((p) => ({
          seq: p.seq,
          trialId: p.data.trialId,
          channels: p.data.channels.map((c) => ({
            channelId: c.channelId,
            counts: c.counts,
            spikes: c.spikes ? Float32Array.from(c.spikes) : undefined,
          })),
        })),
      );
    } catch (e) {
      // Nothing was committed: no acks, the bridge will resend.
      for (const p of batch)
        this.error(p.ws, "EPHYS_STORE_FAILED", `could not store: ${(e as Error).message}`, p.seq);
      return;
    }
    for (const p of batch) this.send(p.ws, { type: "ack", seq: p.seq });
    const fresh = batch.filter((_, i) => isNew[i]).map((p) => p.data);
    if (fresh.length) this.opts.onIngested?.(fresh);
    for (const w of this.waiters) w();
  }
}

/** The same rules as the zod spikes schema, checked by hand (zod was a fifth of the ingest cost). */
function isPlainSpikes(json: unknown): json is SpikesMessage {
  if (typeof json !== "object" || json === null) return false;
  const m = json as Record<string, unknown>;
  const keys = Object.keys(m);
  if (keys.length !== 4 || m.type !== "spikes") return false;
  if (
    !Number.isInteger(m.seq) ||
    (m.seq as number) <= 0 ||
    !Number.isInteger(m.trialId) ||
    (m.trialId as number) <= 0
  )
    return false;
  const ch = m.channels;
  if (typeof ch !== "object" || ch === null || Array.isArray(ch)) return false;
  for (const [id, times] of Object.entries(ch)) {
    if (id.length === 0 || id.length > 64 || !Array.isArray(times) || times.length > 100_000) return false;
    for (const t of times) if (typeof t !== "number" || !Number.isFinite(t)) return false;
  }
  return true;
}
