// The server side of /acquisition: validates each bridge message, turns spike times into window counts, stores a
// batch of messages in one transaction, and acks only after the commit. A repeated seq is acked and not stored
// twice; a repeated seq that carries other data gets an EPHYS_SEQ_CONFLICT error and the stored data stay.
// The transaction runs on an IngestWriter (the store's own thread, or a writer worker thread): one batch at a
// time, and what arrives meanwhile becomes the next batch (group commit).
// The canonical spikes message is parsed straight from the frame's bytes (spikes-parser.ts); everything else goes
// through JSON.parse and zod, which also word the errors.
import type { WebSocket } from "ws";
import type { z } from "zod";
import { type IngestWriter, inlineWriter } from "../store/ingest-writer.ts";
import { type PackedTrial, packCounts, packSpikes, type WindowTable, windowTable } from "../store/packed.ts";
import type { IngestOutcome, SessionStore } from "../store/store.ts";
import {
  type AcquisitionServerMessage,
  acquisitionClientMessage,
  type acquisitionHello,
} from "../wire/acquisition.ts";
import { describeIssues } from "../wire/errors.ts";
import { SpikesParser } from "./spikes-parser.ts";
import { acceptedSpan, type NamedWindows, SPIKE_MARGIN_MS, spanOf } from "./windows.ts";

export interface TrialAnnouncement {
  trialId: number;
  eventCode: number;
  stimulusId: string;
}

/**
 * What one stored message brought, for the monitor (PSTHs, live rates): the packed data of the channels that were
 * new for their trial (read them with countsOf / spikesOf from packed.ts).
 */
export type IngestedTrial = Pick<
  PackedTrial,
  "trialId" | "channelIds" | "windows" | "counts" | "offsets" | "spikes"
>;

export interface AcquisitionHubOptions {
  store: SessionStore;
  sessionId: string;
  windows: NamedWindows;
  /** Largest accepted message in bytes; larger ones get an error frame and are dropped. */
  maxMessageBytes?: number;
  /** Runs the transactions (default: inline on `store`); the hub closes it on close(). */
  writer?: IngestWriter;
  onIngested?: (trials: IngestedTrial[]) => void;
  onWarning?: (code: string, message: string) => void;
}

/** Why a hello is refused after its token and version passed: the error code, its sentence and the close code. */
export interface Refusal {
  code: "EPHYS_ACQUISITION_BUSY" | "EPHYS_CHANNELS_CHANGED";
  message: string;
  close: number;
}

interface Pending {
  ws: WebSocket;
  message: PackedTrial;
}

export class AcquisitionHub {
  /** The one bridge connection (docs/protocol.md: one acquisition bridge at a time). */
  private bridge: { ws: WebSocket; bridgeId?: string } | null = null;
  /** The session's channels: fixed by its first hello. */
  private channelIds = new Set<string>();
  private pending: Pending[] = [];
  private flushScheduled = false;
  private writing: Promise<void> | null = null;
  private readonly writer: IngestWriter;
  private maxTrialId: number;
  private readonly waiters = new Set<() => void>();
  private closed = false;
  private flushTimer?: NodeJS.Timeout;
  private readonly windows: WindowTable;
  private readonly parser: SpikesParser;
  private readonly span: { lo: number; hi: number };

  constructor(private readonly opts: AcquisitionHubOptions) {
    this.writer = opts.writer ?? inlineWriter(opts.store);
    this.windows = windowTable(opts.windows);
    this.span = acceptedSpan(opts.windows);
    this.parser = new SpikesParser(this.windows, this.span);
    const trials = opts.store.trials(opts.sessionId);
    this.maxTrialId = trials.length ? trials[trials.length - 1].trialId : 0;
    for (const c of opts.store.channels(opts.sessionId)) this.channelIds.add(c.id);
  }

  get connected(): number {
    return this.bridge ? 1 : 0;
  }

  get channels(): string[] {
    return [...this.channelIds];
  }

  /**
   * Whether an authenticated hello may take the bridge's place: null, or why not. A bridge is refused while another
   * is connected, unless it names the same bridgeId (a reconnect whose old socket has not closed yet); a hello must
   * declare exactly the channels of the session's first hello (same ids, probes and indices).
   */
  admit(hello: z.infer<typeof acquisitionHello>): Refusal | null {
    return this.channelChange(hello) ?? this.busy(hello);
  }

  private busy(hello: z.infer<typeof acquisitionHello>): Refusal | null {
    const current = this.bridge;
    if (current && !(hello.bridgeId !== undefined && hello.bridgeId === current.bridgeId))
      return {
        code: "EPHYS_ACQUISITION_BUSY",
        message:
          `another acquisition bridge is connected${current.bridgeId ? ` (bridgeId ${current.bridgeId})` : ""}; ` +
          "one bridge at a time — a reconnecting bridge replaces its old connection by sending the same bridgeId",
        close: 4409,
      };
    return null;
  }

  private channelChange(hello: z.infer<typeof acquisitionHello>): Refusal | null {
    const stored = this.opts.store.channels(this.opts.sessionId);
    if (stored.length === 0) return null;
    const key = (c: { id: string; probe: string; index: number }) =>
      `${c.id}\u0000${c.probe}\u0000${c.index}`;
    const have = new Set(stored.map(key));
    const sent = new Set(hello.channels.map(key));
    const missing = stored.filter((c) => !sent.has(key(c)));
    const extra = hello.channels.filter((c) => !have.has(key(c)));
    if (missing.length === 0 && extra.length === 0) return null;
    const list = (cs: Array<{ id: string; probe: string; index: number }>) =>
      cs
        .slice(0, 5)
        .map((c) => `${c.id} (${c.probe}#${c.index})`)
        .join(", ") + (cs.length > 5 ? ` and ${cs.length - 5} more` : "");
    return {
      code: "EPHYS_CHANNELS_CHANGED",
      message:
        `the session's channels were fixed by its first hello (${stored.length} channels); this hello ` +
        [missing.length ? `lacks ${list(missing)}` : "", extra.length ? `adds ${list(extra)}` : ""]
          .filter(Boolean)
          .join(" and ") +
        " — send the same channels, or start a new session for another channel map",
      close: 4409,
    };
  }

  /** Take over an authenticated connection whose hello was valid and admitted (admit() returned null). */
  attach(ws: WebSocket, hello: z.infer<typeof acquisitionHello>): void {
    const { store, sessionId } = this.opts;
    if (this.channelIds.size === 0) {
      store.upsertChannels(sessionId, hello.channels);
      for (const c of hello.channels) this.channelIds.add(c.id);
    }
    const old = this.bridge;
    this.bridge = { ws, bridgeId: hello.bridgeId };
    if (old) {
      this.send(old.ws, {
        type: "error",
        code: "EPHYS_REPLACED",
        message: `a new connection of bridge ${hello.bridgeId} replaced this one`,
      });
      old.ws.close(4410, "EPHYS_REPLACED");
    }
    store.appendEvent(sessionId, "acquisition", "connected", {
      channels: hello.channels.length,
      ...(hello.bridgeId ? { bridgeId: hello.bridgeId } : {}),
      ...(old ? { replaced: true } : {}),
    });
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
          replay: true,
        });
    ws.on("message", (raw, isBinary) => this.onMessage(ws, raw as Buffer, isBinary));
    ws.on("close", () => {
      if (this.bridge?.ws !== ws) return; // replaced by a reconnect of the same bridge
      this.bridge = null;
      if (this.closed) return;
      store.appendEvent(sessionId, "acquisition", "disconnected", {});
      this.opts.onWarning?.("EPHYS_ACQUISITION_LOST", "the acquisition bridge disconnected");
    });
  }

  /** Tell every bridge that a presentation starts (bridges map event codes to trials with it). */
  announce(t: TrialAnnouncement): void {
    this.maxTrialId = Math.max(this.maxTrialId, t.trialId);
    if (this.bridge) this.send(this.bridge.ws, { type: "trial", ...t });
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

  /** Closes the bridges' connections, waits for the transaction in flight and closes the writer. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.flushTimer);
    this.bridge?.ws.close(1001, "daemon shutting down");
    this.bridge = null;
    await this.writing;
    await this.writer.close();
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
    const m = this.parser.parse(raw) ?? this.slowParse(ws, raw);
    if (!m) return;
    if (m.trialId > this.maxTrialId)
      return this.error(
        ws,
        "EPHYS_UNKNOWN_TRIAL",
        `trialId ${m.trialId} was never announced (last ${this.maxTrialId})`,
        m.seq,
      );
    let unknown: string[] | null = null;
    for (const id of m.channelIds)
      if (!this.channelIds.has(id)) {
        unknown ??= [];
        unknown.push(id);
      }
    if (unknown)
      return this.error(
        ws,
        "EPHYS_UNKNOWN_CHANNEL",
        `channels not announced in hello: ${unknown.slice(0, 5).join(", ")}`,
        m.seq,
      );
    this.pending.push({ ws, message: m });
    // Gather what arrives within a few ms into one transaction (one commit per batch, not per message).
    if (this.pending.length >= 64) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.flushTimer = setTimeout(() => this.flush(), 2);
    }
  }

  /** JSON.parse and zod: any valid message the fast parser did not take, and the error text for invalid ones. */
  private slowParse(ws: WebSocket, raw: Buffer): PackedTrial | null {
    let json: unknown;
    try {
      json = JSON.parse(raw.toString("utf8"));
    } catch (e) {
      this.error(ws, "EPHYS_BAD_MESSAGE", `not valid JSON: ${(e as Error).message}`);
      return null;
    }
    const parsed = acquisitionClientMessage.safeParse(json);
    const seq =
      typeof (json as { seq?: unknown })?.seq === "number" ? (json as { seq: number }).seq : undefined;
    if (!parsed.success) {
      this.error(ws, "EPHYS_BAD_MESSAGE", describeIssues(parsed.error, json), seq);
      return null;
    }
    const m = parsed.data;
    if (m.type === "hello") {
      this.error(ws, "EPHYS_BAD_MESSAGE", "hello was already received on this connection");
      return null;
    }
    if (m.type === "notice") {
      // The bridge cannot write the event log: its notice becomes an alert record (log, monitor, dashboard).
      const { code, message, trialId } = m;
      this.opts.store.appendEvent(this.opts.sessionId, "alert", "bridge", {
        message,
        code,
        ...(trialId !== undefined ? { trialId } : {}),
      });
      this.opts.onWarning?.(code, `bridge: ${message}`);
      return null;
    }
    if (m.type === "spikes") {
      const outside = this.outsideSpan(m.channels);
      if (outside) {
        this.error(ws, "EPHYS_BAD_VALUE", outside, m.seq);
        return null;
      }
      const packed = packSpikes(m.seq, m.trialId, m.channels, this.windows);
      if (m.onset) packed.onset = m.onset;
      return packed;
    }
    return packCounts(m.seq, m.trialId, m.channels);
  }

  /** The first spike time outside the accepted span, as an error sentence naming its field; null if none. */
  private outsideSpan(channels: Record<string, number[]>): string | null {
    const { lo, hi } = this.span;
    for (const [id, times] of Object.entries(channels))
      for (let k = 0; k < times.length; k++)
        if (!(times[k] >= lo && times[k] <= hi)) {
          const { preMs, postMs } = spanOf(this.opts.windows);
          return (
            `channels.${id}.${k}: spike time ${times[k]} ms is outside [${lo}, ${hi}] ms ` +
            `(welcome.window −${preMs}..+${postMs} ms around onset, ± ${SPIKE_MARGIN_MS} ms); nothing of this message was stored`
          );
        }
    return null;
  }

  /**
   * One transaction for everything that arrived since the last one, then the acks. While a transaction is in
   * flight nothing else is written; what arrives meanwhile is flushed as soon as it has committed.
   */
  private flush(): void {
    this.flushScheduled = false;
    clearTimeout(this.flushTimer);
    if (this.writing || this.pending.length === 0 || this.closed) return;
    const batch = this.pending;
    this.pending = [];
    const { sessionId } = this.opts;
    this.writing = this.writer
      .write(
        sessionId,
        batch.map((p) => p.message),
      )
      .then(
        (outcomes) => this.acknowledge(batch, outcomes),
        (e: unknown) => {
          // Nothing was committed: no acks, the bridge will resend.
          for (const p of batch)
            this.error(p.ws, "EPHYS_STORE_FAILED", `could not store: ${(e as Error).message}`, p.message.seq);
        },
      )
      .finally(() => {
        this.writing = null;
        if (this.pending.length) this.flush();
      });
  }

  private acknowledge(batch: Pending[], outcomes: IngestOutcome[]): void {
    const fresh: IngestedTrial[] = [];
    batch.forEach((p, i) => {
      const o = outcomes[i];
      if (o.outcome === "conflict") this.conflict(p, o.storedTrialId);
      else this.send(p.ws, { type: "ack", seq: p.message.seq });
      if (o.outcome === "stored" && o.part) fresh.push(o.part);
    });
    if (fresh.length) this.opts.onIngested?.(fresh);
    for (const w of this.waiters) w();
  }

  /** A seq stored before with other data: an error frame naming it and a warning record; the stored data stay. */
  private conflict(p: Pending, storedTrialId: number): void {
    const { seq, trialId } = p.message;
    const message =
      `seq ${seq} was already stored with other data (stored: trial ${storedTrialId}; ` +
      `this message: trial ${trialId}${storedTrialId === trialId ? ", different spike data" : ""}); ` +
      "the stored data are kept — give new data a new seq";
    this.opts.store.appendEvent(this.opts.sessionId, "acquisition", "seq-conflict", {
      seq,
      trialId,
      storedTrialId,
    });
    this.error(p.ws, "EPHYS_SEQ_CONFLICT", message, seq);
  }
}
