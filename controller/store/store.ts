// The session database: better-sqlite3 in WAL mode. Writes that belong together are one transaction; every
// insert of trial data is idempotent (a replayed message is a no-op). Data are durable when a method returns.
// Every write transaction begins IMMEDIATE: two connections write (this one and the ingest writer thread's), and a
// deferred transaction that reads first and then writes gets SQLITE_BUSY at once, without the busy timeout, when
// the other connection committed in between.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import type { EyeSummary } from "../../analysis/eye/eye-summary.ts";
import { migrations } from "./migrations.ts";
import { countsOf, type PackedTrial, packRecords, subsetChannels } from "./packed.ts";
import { blob, f64, u32 } from "./packing.ts";

export type Db = Database.Database;

export interface TrialOnsetRecord {
  trialId: number;
  seq: number;
  source: "photodiode" | "event";
  sample: number;
  sampleRate: number;
  photodiodeMinusEventMs: number | null;
}

export interface SessionRow {
  id: string;
  created_at: string;
  protocol_name: string;
  protocol_path: string;
  protocol_text: string;
  protocol_sha256: string;
  code_version: string;
  software: string;
  seed: number;
  rig: string | null;
  subject: string | null;
  /** The probe (model, serial), its depth in µm and the brain region recorded (schema version 8). */
  probe: string | null;
  depth_um: number | null;
  region: string | null;
  weights_sha256: string | null;
  state: string;
  snapshot: string | null;
  failed_reason: string | null;
  /** Who or what aborted the day (the operator, a virtual-rig part); null unless it was aborted. */
  aborted_by: string | null;
  started_at: string | null;
  ended_at: string | null;
}

/** What a session records from, stored with it (provenance; `serve --subject --rig --probe --depth-um --region`). */
export interface SessionMetadata {
  subject?: string;
  rig?: string;
  /** The probe, e.g. "Neuropixels 1.0 #18194823132". */
  probe?: string;
  /** The probe's depth, µm (as the lab measures it, e.g. from the dura). */
  depthUm?: number;
  /** The brain region recorded, e.g. "MSB body patch, left hemisphere". */
  region?: string;
}

export interface NewSession extends SessionMetadata {
  id: string;
  protocolName: string;
  protocolPath: string;
  protocolText: string;
  protocolSha256: string;
  codeVersion: string;
  software: Record<string, string>;
  seed: number;
}

export interface StimulusRecord {
  id: string;
  setId: string;
  category: string;
  role: string;
  path: string;
  sha256: string;
}

export interface ChannelRecord {
  id: string;
  probe: string;
  index: number;
}

export interface TrialRecord {
  trialId: number;
  phase: 1 | 2;
  block: number;
  stimulusId: string;
  eventCode: number;
  status: "pending" | "shown" | "voided";
  onsetMs?: number;
  offsetMs?: number;
  droppedFrames?: number;
  /** Photodiode on and off on the daemon's clock (rig box version 2); absent when not measured. */
  pdOnsetMs?: number;
  pdOffsetMs?: number;
  /** The eye during the presentation (rig box version 2 EYE stream); absent without samples. */
  eye?: EyeSummary;
}

/** One acquisition message's data: per channel, counts per window and optionally the raw spike times. */
export interface TrialSpikeData {
  seq: number;
  trialId: number;
  channels: Array<{ channelId: string; counts: Record<string, number>; spikes?: ArrayLike<number> }>;
}

/**
 * What storing one acquisition message did: `stored` (new seq; `part` is what was written — the message minus
 * channels that an earlier message of the same trial already brought, null when nothing was left; `keep` the
 * indices of the written channels in the message, null for all), `duplicate` (seq stored before with the same
 * data: nothing written) or `conflict` (seq stored before with other data: nothing written, the stored data stay).
 */
export type IngestOutcome =
  | { outcome: "stored"; part: PackedTrial | null; keep: number[] | null }
  | { outcome: "duplicate" }
  | { outcome: "conflict"; storedTrialId: number };

/** One stored trial_data row, decoded (views into the row's blobs). */
export interface StoredTrialPart {
  trialId: number;
  /** The message that brought it; null for data migrated from schema version 2. */
  seq: number | null;
  channelIds: string[];
  windows: string[];
  counts: Uint32Array;
  offsets: Uint32Array | null;
  spikes: Float64Array | null;
}

/** Where a paged read of trial data stands: the last row returned (see SessionStore.trialDataPage). */
export interface TrialDataCursor {
  trialId: number;
  rowId: number;
}

/** A trial_data row as SQLite returns it. */
interface TrialDataRow {
  trial_id: number;
  seq: number | null;
  channel_set: number;
  windows: string;
  counts: Buffer;
  offsets: Buffer | null;
  spikes: Buffer | null;
}

/** One channel check as saveChecks stores it and checkResults reads it back. */
export interface CheckResultRecord {
  channelId: string;
  name: string;
  value: number | null;
  threshold: number | null;
  passed: boolean;
  details: unknown;
}

export interface EventRecord {
  id: number;
  session_id: string | null;
  t: number;
  type: string;
  subtype: string;
  content: string;
}

export interface CountRow {
  trial_id: number;
  channel_id: string;
  stimulus_id: string;
  phase: number;
  counts: Record<string, number>;
}

export function openDatabase(path: string): Db {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL"); // an ack promises durability, also across power loss
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  migrate(db);
  return db;
}

export function migrate(db: Db): number {
  const current = db.pragma("user_version", { simple: true }) as number;
  for (const m of migrations) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      m.run?.(db);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
  return db.pragma("user_version", { simple: true }) as number;
}

const now = () => new Date().toISOString();

export class SessionStore {
  readonly db: Db;
  private readonly stmts;
  private readonly listeners = new Set<(e: EventRecord) => void>();
  /** Channel sets by id (session \0 id → ids), filled from committed rows only. */
  private readonly setsById = new Map<string, string[]>();
  /** The set the last stored message used (most messages of a session carry the same channels in the same order). */
  private lastSet: { sessionId: string; ids: string[]; id: number } | null = null;

  constructor(pathOrDb: string | Db) {
    this.db = typeof pathOrDb === "string" ? openDatabase(pathOrDb) : pathOrDb;
    const db = this.db;
    this.stmts = {
      event: db.prepare("INSERT INTO events (session_id, t, type, subtype, content) VALUES (?, ?, ?, ?, ?)"),
      seqSeen: db.prepare("SELECT 1 FROM acquisition_messages WHERE session_id = ? AND seq = ?"),
      seqGet: db.prepare(
        "SELECT trial_id, digest FROM acquisition_messages WHERE session_id = ? AND seq = ?",
      ),
      seqInsert: db.prepare(
        "INSERT INTO acquisition_messages (session_id, seq, trial_id, received_at, digest) VALUES (?, ?, ?, ?, ?)",
      ),
      onsetInsert: db.prepare(
        `INSERT OR IGNORE INTO trial_onsets (session_id, trial_id, seq, source, sample, sample_rate,
           photodiode_minus_event_ms) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      trialParts: db.prepare("SELECT channel_set FROM trial_data WHERE session_id = ? AND trial_id = ?"),
      dataInsert: db.prepare(
        `INSERT INTO trial_data (session_id, trial_id, seq, channel_set, n_channels, windows, counts, offsets, spikes)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      setByText: db.prepare("SELECT id FROM channel_sets WHERE session_id = ? AND channels = ?"),
      setById: db.prepare("SELECT channels FROM channel_sets WHERE session_id = ? AND id = ?"),
      setInsert: db.prepare(
        "INSERT INTO channel_sets (session_id, id, channels) SELECT ?, COALESCE(MAX(id), 0) + 1, ? FROM channel_sets WHERE session_id = ?",
      ),
      trialInsert: db.prepare(
        `INSERT OR IGNORE INTO trials (session_id, trial_id, phase, block, stimulus_id, event_code, status,
           onset_ms, offset_ms, dropped_frames, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
    };
  }

  close(): void {
    this.db.close();
  }

  createSession(s: NewSession): SessionRow {
    this.db
      .transaction(() => {
        this.db
          .prepare(
            `INSERT INTO sessions (id, created_at, protocol_name, protocol_path, protocol_text, protocol_sha256,
             code_version, software, seed, rig, subject, probe, depth_um, region, state)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'preparing')`,
          )
          .run(
            s.id,
            now(),
            s.protocolName,
            s.protocolPath,
            s.protocolText,
            s.protocolSha256,
            s.codeVersion,
            JSON.stringify(s.software),
            s.seed,
            s.rig ?? null,
            s.subject ?? null,
            s.probe ?? null,
            s.depthUm ?? null,
            s.region ?? null,
          );
        this.appendEvent(s.id, "session", "created", { protocol: s.protocolName, sha256: s.protocolSha256 });
      })
      .immediate();
    return this.getSession(s.id)!;
  }

  getSession(id: string): SessionRow | undefined {
    return this.db.prepare("SELECT * FROM sessions WHERE id = ?").get(id) as SessionRow | undefined;
  }

  listSessions(): SessionRow[] {
    return this.db.prepare("SELECT * FROM sessions ORDER BY created_at DESC").all() as SessionRow[];
  }

  /** The newest session that has not ended (done, failed, aborted), to resume after a restart. */
  resumableSession(): SessionRow | undefined {
    return this.db
      .prepare(
        "SELECT * FROM sessions WHERE state NOT IN ('done', 'failed', 'aborted') ORDER BY created_at DESC LIMIT 1",
      )
      .get() as SessionRow | undefined;
  }

  /** Persist the machine snapshot with every transition, together with its event record. */
  /**
   * Persist the day machine's snapshot and its state. The day has ended once it reports (reporting, failing,
   * aborting) or reached a final state: ended_at is set then, once.
   */
  saveSnapshot(
    sessionId: string,
    state: string,
    snapshot: unknown,
    failedReason?: string,
    abortedBy?: string,
  ): void {
    this.db
      .transaction(() => {
        const ending = ["reporting", "failing", "aborting", "done", "failed", "aborted"];
        const ended = ending.includes(state) ? now() : null;
        this.db
          .prepare(
            `UPDATE sessions SET state = ?, snapshot = ?, failed_reason = COALESCE(?, failed_reason),
             aborted_by = COALESCE(?, aborted_by), started_at = COALESCE(started_at, ?),
             ended_at = COALESCE(?, ended_at) WHERE id = ?`,
          )
          .run(
            state,
            JSON.stringify(snapshot),
            failedReason ?? null,
            abortedBy ?? null,
            now(),
            ended,
            sessionId,
          );
        this.appendEvent(sessionId, "state", state, failedReason ? { reason: failedReason } : {});
      })
      .immediate();
  }

  setWeightsHash(sessionId: string, sha256: string): void {
    this.db.prepare("UPDATE sessions SET weights_sha256 = ? WHERE id = ?").run(sha256, sessionId);
  }

  /** The append-only event log: one record shape (time, type, subtype, content) for everything that happens. */
  appendEvent(
    sessionId: string | null,
    type: string,
    subtype: string,
    content: unknown = {},
    t = Date.now(),
  ): number {
    const text = JSON.stringify(content);
    const id = Number(this.stmts.event.run(sessionId, t, type, subtype, text).lastInsertRowid);
    for (const l of this.listeners) l({ id, session_id: sessionId, t, type, subtype, content: text });
    return id;
  }

  /** Called with every event record as it is appended (the monitor streams them). */
  onEvent(listener: (e: EventRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  events(sessionId: string, afterId = 0, limit = 1000): EventRecord[] {
    return this.db
      .prepare("SELECT * FROM events WHERE session_id = ? AND id > ? ORDER BY id LIMIT ?")
      .all(sessionId, afterId, limit) as EventRecord[];
  }

  upsertChannels(sessionId: string, channels: ChannelRecord[]): void {
    const stmt = this.db.prepare(
      "INSERT INTO channels (session_id, id, probe, idx) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET probe = excluded.probe, idx = excluded.idx",
    );
    this.db
      .transaction(() => {
        for (const c of channels) stmt.run(sessionId, c.id, c.probe, c.index);
      })
      .immediate();
  }

  channels(sessionId: string): ChannelRecord[] {
    return (
      this.db
        .prepare("SELECT id, probe, idx FROM channels WHERE session_id = ? ORDER BY idx, id")
        .all(sessionId) as Array<{
        id: string;
        probe: string;
        idx: number;
      }>
    ).map((r) => ({ id: r.id, probe: r.probe, index: r.idx }));
  }

  insertStimuli(sessionId: string, stimuli: StimulusRecord[]): void {
    const stmt = this.db.prepare(
      "INSERT OR IGNORE INTO stimuli (session_id, id, set_id, category, role, path, sha256) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    this.db
      .transaction(() => {
        for (const s of stimuli) stmt.run(sessionId, s.id, s.setId, s.category, s.role, s.path, s.sha256);
      })
      .immediate();
  }

  stimuli(sessionId: string): StimulusRecord[] {
    return this.db
      .prepare(
        "SELECT id, set_id AS setId, category, role, path, sha256 FROM stimuli WHERE session_id = ? ORDER BY rowid",
      )
      .all(sessionId) as StimulusRecord[];
  }

  /**
   * Settle a pending presentation: shown (with its display timing) or voided (fixation break, restart).
   * Only a pending trial changes; settling twice is a no-op.
   */
  settleTrial(
    sessionId: string,
    trialId: number,
    outcome: {
      status: "shown" | "voided";
      onsetMs?: number;
      offsetMs?: number;
      droppedFrames?: number;
      pdOnsetMs?: number;
      pdOffsetMs?: number;
      eye?: EyeSummary;
      reason?: string;
    },
  ): boolean {
    return this.db
      .transaction(() => {
        const r = this.db
          .prepare(
            `UPDATE trials SET status = ?, onset_ms = ?, offset_ms = ?, dropped_frames = ?, pd_onset_ms = ?,
             pd_offset_ms = ?, eye_n = ?, eye_mean_x_deg = ?, eye_mean_y_deg = ?, eye_sd_deg = ?
           WHERE session_id = ? AND trial_id = ? AND status = 'pending'`,
          )
          .run(
            outcome.status,
            outcome.onsetMs ?? null,
            outcome.offsetMs ?? null,
            outcome.droppedFrames ?? null,
            outcome.pdOnsetMs ?? null,
            outcome.pdOffsetMs ?? null,
            outcome.eye?.n ?? null,
            outcome.eye?.meanXDeg ?? null,
            outcome.eye?.meanYDeg ?? null,
            outcome.eye?.sdDeg ?? null,
            sessionId,
            trialId,
          );
        if (r.changes > 0 && outcome.status === "voided")
          this.appendEvent(sessionId, "trial", "voided", { trialId, reason: outcome.reason ?? "" });
        return r.changes > 0;
      })
      .immediate();
  }

  /** After a restart: presentations that were announced but never settled are voided, never reused. */
  voidPendingTrials(sessionId: string, reason: string): number {
    const ids = this.db
      .prepare("SELECT trial_id FROM trials WHERE session_id = ? AND status = 'pending'")
      .all(sessionId) as Array<{ trial_id: number }>;
    for (const { trial_id } of ids) this.settleTrial(sessionId, trial_id, { status: "voided", reason });
    return ids.length;
  }

  nextTrialId(sessionId: string): number {
    const r = this.db
      .prepare("SELECT MAX(trial_id) AS m FROM trials WHERE session_id = ?")
      .get(sessionId) as { m: number | null };
    return (r.m ?? 0) + 1;
  }

  /** Record a presentation (normally as pending, before it is announced); the same trial id twice is a no-op. */
  recordTrial(sessionId: string, t: TrialRecord): boolean {
    const r = this.stmts.trialInsert.run(
      sessionId,
      t.trialId,
      t.phase,
      t.block,
      t.stimulusId,
      t.eventCode,
      t.status,
      t.onsetMs ?? null,
      t.offsetMs ?? null,
      t.droppedFrames ?? null,
      now(),
    );
    return r.changes > 0;
  }

  trials(sessionId: string, phase?: 1 | 2): Array<TrialRecord & { createdAt: string }> {
    const rows = this.db
      .prepare(
        `SELECT trial_id, phase, block, stimulus_id, event_code, status, onset_ms, offset_ms, dropped_frames,
           pd_onset_ms, pd_offset_ms, eye_n, eye_mean_x_deg, eye_mean_y_deg, eye_sd_deg, created_at
         FROM trials WHERE session_id = ? ${phase ? "AND phase = ?" : ""} ORDER BY trial_id`,
      )
      .all(...(phase ? [sessionId, phase] : [sessionId])) as Array<Record<string, unknown>>;
    return rows.map((r) => ({
      trialId: r.trial_id as number,
      phase: r.phase as 1 | 2,
      block: r.block as number,
      stimulusId: r.stimulus_id as string,
      eventCode: r.event_code as number,
      status: r.status as TrialRecord["status"],
      onsetMs: (r.onset_ms as number | null) ?? undefined,
      offsetMs: (r.offset_ms as number | null) ?? undefined,
      droppedFrames: (r.dropped_frames as number | null) ?? undefined,
      pdOnsetMs: (r.pd_onset_ms as number | null) ?? undefined,
      pdOffsetMs: (r.pd_offset_ms as number | null) ?? undefined,
      eye:
        r.eye_n === null
          ? undefined
          : {
              n: r.eye_n as number,
              meanXDeg: r.eye_mean_x_deg as number,
              meanYDeg: r.eye_mean_y_deg as number,
              sdDeg: r.eye_sd_deg as number,
            },
      createdAt: r.created_at as string,
    }));
  }

  /**
   * Store one or more acquisition messages in ONE transaction; returns, per message, whether it was new.
   * A seq seen before is not stored again; a (trial, channel) stored before is kept as first stored.
   */
  ingest(sessionId: string, messages: TrialSpikeData[]): boolean[] {
    return this.ingestPacked(
      sessionId,
      messages.map((m) => packRecords(m.seq, m.trialId, m.channels)),
    ).map((r) => r.outcome === "stored");
  }

  /**
   * Store packed acquisition messages in ONE transaction (one trial_data row per message). A seq stored before
   * writes nothing: `duplicate` when its digest and trial match what was stored, `conflict` otherwise. Channels
   * of a trial that an earlier message already brought are left out (the first data stored stay).
   */
  ingestPacked(sessionId: string, messages: readonly PackedTrial[]): IngestOutcome[] {
    const received = now();
    const fresh: Array<{ sessionId: string; ids: string[]; id: number }> = [];
    const outcomes = this.db.transaction(() =>
      messages.map((m): IngestOutcome => {
        const prior = this.stmts.seqGet.get(sessionId, m.seq) as
          | { trial_id: number; digest: string | null }
          | undefined;
        if (prior) {
          // Messages stored before schema version 3 have no digest: a repeat of one is taken for a duplicate.
          const same = prior.trial_id === m.trialId && (prior.digest === null || prior.digest === m.digest);
          return same ? { outcome: "duplicate" } : { outcome: "conflict", storedTrialId: prior.trial_id };
        }
        this.stmts.seqInsert.run(sessionId, m.seq, m.trialId, received, m.digest);
        if (m.onset)
          this.stmts.onsetInsert.run(
            sessionId,
            m.trialId,
            m.seq,
            m.onset.source,
            m.onset.sample,
            m.onset.sampleRate,
            m.onset.photodiodeMinusEventMs,
          );
        let part: PackedTrial = m;
        let kept: number[] | null = null;
        const earlier = this.stmts.trialParts.all(sessionId, m.trialId) as Array<{ channel_set: number }>;
        if (earlier.length) {
          const stored = new Set<string>();
          for (const r of earlier) {
            // A set made earlier in this transaction is not committed yet: take it from `fresh`, do not cache it.
            const mine = fresh.find((f) => f.sessionId === sessionId && f.id === r.channel_set);
            for (const id of mine ? mine.ids : this.channelSet(sessionId, r.channel_set)) stored.add(id);
          }
          const keep: number[] = [];
          m.channelIds.forEach((id, c) => {
            if (!stored.has(id)) keep.push(c);
          });
          if (keep.length < m.channelIds.length) {
            part = subsetChannels(m, keep);
            kept = keep;
          }
        }
        if (part.channelIds.length === 0) return { outcome: "stored", part: null, keep: kept ?? [] };
        const setId = this.channelSetId(sessionId, part.channelIds, fresh);
        this.stmts.dataInsert.run(
          sessionId,
          m.trialId,
          m.seq,
          setId,
          part.channelIds.length,
          JSON.stringify(part.windows),
          blob(part.counts),
          part.offsets ? blob(part.offsets) : null,
          part.spikes ? blob(part.spikes) : null,
        );
        return { outcome: "stored", part, keep: kept };
      }),
    );
    let result: IngestOutcome[];
    try {
      result = outcomes.immediate();
    } catch (e) {
      this.lastSet = null; // it may name a set whose insert was rolled back
      throw e;
    }
    for (const s of fresh) this.setsById.set(`${s.sessionId}\u0000${s.id}`, s.ids);
    return result;
  }

  /** The id of this channel list (in this order) in channel_sets, inserting it when new. */
  private channelSetId(
    sessionId: string,
    ids: string[],
    fresh: Array<{ sessionId: string; ids: string[]; id: number }>,
  ): number {
    const last = this.lastSet;
    if (last && last.sessionId === sessionId && sameIds(last.ids, ids)) return last.id;
    const text = JSON.stringify(ids);
    let row = this.stmts.setByText.get(sessionId, text) as { id: number } | undefined;
    if (!row) {
      this.stmts.setInsert.run(sessionId, text, sessionId);
      row = this.stmts.setByText.get(sessionId, text) as { id: number };
      fresh.push({ sessionId, ids, id: row.id });
    }
    this.lastSet = { sessionId, ids, id: row.id };
    return row.id;
  }

  private channelSet(sessionId: string, id: number): string[] {
    const key = `${sessionId}\u0000${id}`;
    let ids = this.setsById.get(key);
    if (!ids) {
      const row = this.stmts.setById.get(sessionId, id) as { channels: string } | undefined;
      ids = row ? (JSON.parse(row.channels) as string[]) : [];
      if (row) this.setsById.set(key, ids);
    }
    return ids;
  }

  /** Stored trial data, decoded, in trial order (and storage order within a trial); one trial or all. */
  trialData(sessionId: string, trialId?: number): StoredTrialPart[] {
    const rows = this.db
      .prepare(
        `SELECT trial_id, seq, channel_set, windows, counts, offsets, spikes FROM trial_data
         WHERE session_id = ? ${trialId !== undefined ? "AND trial_id = ?" : ""} ORDER BY trial_id, id`,
      )
      .all(...(trialId !== undefined ? [sessionId, trialId] : [sessionId])) as TrialDataRow[];
    const windows = new Map<string, string[]>();
    return rows.map((r) => this.decodeTrialRow(sessionId, r, windows));
  }

  /** The id of the newest trial_data row of the session (0 when none): the end of a paged read's snapshot. */
  lastTrialDataRowId(sessionId: string): number {
    const r = this.db.prepare("SELECT MAX(id) AS m FROM trial_data WHERE session_id = ?").get(sessionId) as {
      m: number | null;
    };
    return r.m ?? 0;
  }

  /**
   * One page of stored trial data, decoded, in the order of trialData (trial, then storage order): up to `limit`
   * rows after `after`, none newer than row `until`. Reads a large session in bounded memory without holding a
   * statement open between pages (the connection stays free for writers); `spikes: false` leaves the spike times
   * unread (counts and offsets only). `next` is the cursor of the following page, absent after the last.
   */
  trialDataPage(
    sessionId: string,
    o: { after?: TrialDataCursor; until: number; limit: number; spikes?: boolean },
  ): { rows: StoredTrialPart[]; next?: TrialDataCursor } {
    const after = o.after ?? { trialId: Number.MIN_SAFE_INTEGER, rowId: 0 };
    const rows = this.db
      .prepare(
        `SELECT id, trial_id, seq, channel_set, windows, counts, offsets, ${o.spikes === false ? "NULL AS" : ""} spikes
         FROM trial_data WHERE session_id = ? AND trial_id >= ? AND (trial_id > ? OR id > ?) AND id <= ?
         ORDER BY trial_id, id LIMIT ?`,
      )
      .all(sessionId, after.trialId, after.trialId, after.rowId, o.until, o.limit) as Array<
      TrialDataRow & { id: number }
    >;
    const windows = new Map<string, string[]>();
    const last = rows.at(-1);
    return {
      rows: rows.map((r) => this.decodeTrialRow(sessionId, r, windows)),
      ...(last && rows.length === o.limit ? { next: { trialId: last.trial_id, rowId: last.id } } : {}),
    };
  }

  private decodeTrialRow(
    sessionId: string,
    r: TrialDataRow,
    windows: Map<string, string[]>,
  ): StoredTrialPart {
    return {
      trialId: r.trial_id,
      seq: r.seq,
      channelIds: this.channelSet(sessionId, r.channel_set),
      windows: windowNames(windows, r.windows),
      counts: u32(r.counts),
      offsets: r.offsets ? u32(r.offsets) : null,
      spikes: r.spikes ? f64(r.spikes) : null,
    };
  }

  /** Each trial's onset as the bridge reported it (photodiode or event word; timing QA), in trial order. */
  trialOnsets(sessionId: string): TrialOnsetRecord[] {
    return (
      this.db
        .prepare(
          `SELECT trial_id, seq, source, sample, sample_rate, photodiode_minus_event_ms FROM trial_onsets
           WHERE session_id = ? ORDER BY trial_id`,
        )
        .all(sessionId) as Array<{
        trial_id: number;
        seq: number;
        source: "photodiode" | "event";
        sample: number;
        sample_rate: number;
        photodiode_minus_event_ms: number | null;
      }>
    ).map((r) => ({
      trialId: r.trial_id,
      seq: r.seq,
      source: r.source,
      sample: r.sample,
      sampleRate: r.sample_rate,
      photodiodeMinusEventMs: r.photodiode_minus_event_ms,
    }));
  }

  /**
   * The highest seq such that every seq from 1 up to it is stored: a bridge that replays everything after it
   * loses nothing even when messages arrived out of order before a disconnect.
   */
  lastAckedSeq(sessionId: string): number {
    const first = this.stmts.seqSeen.get(sessionId, 1);
    if (!first) return 0;
    const r = this.db
      .prepare(
        `SELECT MIN(a.seq) AS seq FROM acquisition_messages a WHERE a.session_id = ? AND NOT EXISTS
           (SELECT 1 FROM acquisition_messages b WHERE b.session_id = a.session_id AND b.seq = a.seq + 1)`,
      )
      .get(sessionId) as { seq: number | null };
    return r.seq ?? 0;
  }

  /** Trial ids that have spike data for at least this many channels (a trial's rows never share a channel). */
  trialsWithData(sessionId: string, channelCount: number): Set<number> {
    const rows = this.db
      .prepare(
        "SELECT trial_id FROM trial_data WHERE session_id = ? GROUP BY trial_id HAVING SUM(n_channels) >= ?",
      )
      .all(sessionId, channelCount) as Array<{ trial_id: number }>;
    return new Set(rows.map((r) => r.trial_id));
  }

  /** Counts of shown (not voided) trials, joined with their stimulus and phase; by trial, then channel id. */
  counts(sessionId: string, phase?: 1 | 2): CountRow[] {
    const rows = this.db
      .prepare(
        `SELECT d.trial_id, d.channel_set, d.windows, d.counts, t.stimulus_id, t.phase FROM trial_data d
         JOIN trials t ON t.session_id = d.session_id AND t.trial_id = d.trial_id
         WHERE d.session_id = ? AND t.status = 'shown' ${phase ? "AND t.phase = ?" : ""}
         ORDER BY d.trial_id, d.id`,
      )
      .all(...(phase ? [sessionId, phase] : [sessionId])) as Array<{
      trial_id: number;
      channel_set: number;
      windows: string;
      counts: Buffer;
      stimulus_id: string;
      phase: number;
    }>;
    const out: CountRow[] = [];
    const windows = new Map<string, string[]>();
    let trialStart = 0;
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      const data = { windows: windowNames(windows, r.windows), counts: u32(r.counts) };
      const ids = this.channelSet(sessionId, r.channel_set);
      for (let c = 0; c < ids.length; c++)
        out.push({
          trial_id: r.trial_id,
          channel_id: ids[c],
          stimulus_id: r.stimulus_id,
          phase: r.phase,
          counts: countsOf(data, c),
        });
      // A trial's rows done: order its channels by id.
      if (i + 1 === rows.length || rows[i + 1].trial_id !== r.trial_id) {
        sortByChannel(out, trialStart);
        trialStart = out.length;
      }
    }
    return out;
  }

  saveSplits(sessionId: string, splits: Record<string, "train" | "validation" | "test">): void {
    const stmt = this.db.prepare(
      "INSERT INTO splits (session_id, stimulus_id, split) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET split = excluded.split",
    );
    this.db
      .transaction(() => {
        for (const [id, split] of Object.entries(splits)) stmt.run(sessionId, id, split);
      })
      .immediate();
  }

  splits(sessionId: string): Record<string, "train" | "validation" | "test"> {
    const rows = this.db
      .prepare("SELECT stimulus_id, split FROM splits WHERE session_id = ?")
      .all(sessionId) as Array<{
      stimulus_id: string;
      split: "train" | "validation" | "test";
    }>;
    return Object.fromEntries(rows.map((r) => [r.stimulus_id, r.split]));
  }

  saveModels(
    sessionId: string,
    models: Array<{ channelId: string; kind: string; params: unknown; metrics: unknown }>,
  ): void {
    const stmt = this.db.prepare(
      `INSERT INTO models (session_id, channel_id, kind, params, metrics, created_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT DO UPDATE SET kind = excluded.kind, params = excluded.params, metrics = excluded.metrics,
       created_at = excluded.created_at`,
    );
    this.db
      .transaction(() => {
        for (const m of models)
          stmt.run(
            sessionId,
            m.channelId,
            m.kind,
            JSON.stringify(m.params),
            JSON.stringify(m.metrics),
            now(),
          );
        this.appendEvent(sessionId, "models", "saved", { channels: models.length });
      })
      .immediate();
  }

  models(sessionId: string): Array<{ channelId: string; kind: string; params: unknown; metrics: unknown }> {
    const rows = this.db
      .prepare(
        "SELECT channel_id, kind, params, metrics FROM models WHERE session_id = ? ORDER BY channel_id",
      )
      .all(sessionId) as Array<Record<string, string>>;
    return rows.map((r) => ({
      channelId: r.channel_id,
      kind: r.kind,
      params: JSON.parse(r.params),
      metrics: JSON.parse(r.metrics),
    }));
  }

  saveSelections(
    sessionId: string,
    choices: Array<{ channelId: string; stimulusId: string; rule: string; score: number | null }>,
  ): void {
    const stmt = this.db.prepare(
      "INSERT OR REPLACE INTO selections (session_id, channel_id, stimulus_id, rule, score) VALUES (?, ?, ?, ?, ?)",
    );
    this.db
      .transaction(() => {
        for (const c of choices) stmt.run(sessionId, c.channelId, c.stimulusId, c.rule, c.score);
        this.appendEvent(sessionId, "selection", "saved", { choices: choices.length });
      })
      .immediate();
  }

  selections(
    sessionId: string,
  ): Array<{ channelId: string; stimulusId: string; rule: string; score: number | null }> {
    return this.db
      .prepare(
        "SELECT channel_id AS channelId, stimulus_id AS stimulusId, rule, score FROM selections WHERE session_id = ? ORDER BY rowid",
      )
      .all(sessionId) as Array<{ channelId: string; stimulusId: string; rule: string; score: number | null }>;
  }

  saveChecks(
    sessionId: string,
    results: CheckResultRecord[],
    decisions: Array<{ channelId: string; included: boolean; reason: string }>,
  ): void {
    const r = this.db.prepare(
      "INSERT OR REPLACE INTO check_results (session_id, channel_id, name, value, threshold, passed, details) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    const d = this.db.prepare(
      "INSERT OR REPLACE INTO channel_decisions (session_id, channel_id, included, reason) VALUES (?, ?, ?, ?)",
    );
    this.db
      .transaction(() => {
        for (const c of results)
          r.run(
            sessionId,
            c.channelId,
            c.name,
            c.value,
            c.threshold,
            c.passed ? 1 : 0,
            JSON.stringify(c.details),
          );
        for (const c of decisions) d.run(sessionId, c.channelId, c.included ? 1 : 0, c.reason);
        this.appendEvent(sessionId, "checks", "saved", { channels: decisions.length });
      })
      .immediate();
  }

  checkResults(sessionId: string): CheckResultRecord[] {
    const rows = this.db
      .prepare("SELECT * FROM check_results WHERE session_id = ? ORDER BY channel_id, name")
      .all(sessionId) as Array<Record<string, unknown>>;
    return rows.map((r) => ({
      channelId: r.channel_id as string,
      name: r.name as string,
      value: r.value as number | null,
      threshold: r.threshold as number | null,
      passed: r.passed === 1,
      details: JSON.parse(r.details as string),
    }));
  }

  decisions(sessionId: string): Array<{ channelId: string; included: boolean; reason: string }> {
    const rows = this.db
      .prepare(
        "SELECT channel_id, included, reason FROM channel_decisions WHERE session_id = ? ORDER BY channel_id",
      )
      .all(sessionId) as Array<Record<string, unknown>>;
    return rows.map((r) => ({
      channelId: r.channel_id as string,
      included: r.included === 1,
      reason: r.reason as string,
    }));
  }

  addArtifact(
    sessionId: string,
    a: { channelId?: string; kind: string; path?: string; meta: unknown },
  ): number {
    return Number(
      this.db
        .prepare(
          "INSERT INTO artifacts (session_id, channel_id, kind, path, meta, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .run(sessionId, a.channelId ?? null, a.kind, a.path ?? null, JSON.stringify(a.meta), now())
        .lastInsertRowid,
    );
  }

  artifacts(
    sessionId: string,
    kind?: string,
  ): Array<{ id: number; channelId: string | null; kind: string; path: string | null; meta: unknown }> {
    const rows = this.db
      .prepare(`SELECT * FROM artifacts WHERE session_id = ? ${kind ? "AND kind = ?" : ""} ORDER BY id`)
      .all(...(kind ? [sessionId, kind] : [sessionId])) as Array<Record<string, unknown>>;
    return rows.map((r) => ({
      id: r.id as number,
      channelId: r.channel_id as string | null,
      kind: r.kind as string,
      path: r.path as string | null,
      meta: JSON.parse(r.meta as string),
    }));
  }

  integrityCheck(): string {
    return this.db.pragma("integrity_check", { simple: true }) as string;
  }
}

/** A row's windows column parsed, once per distinct text (most rows of a session share one). */
function windowNames(cache: Map<string, string[]>, text: string): string[] {
  let names = cache.get(text);
  if (!names) {
    names = JSON.parse(text) as string[];
    cache.set(text, names);
  }
  return names;
}

function sameIds(a: string[], b: string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Sort rows[from..] by channel id in place, as SQLite's BINARY collation would for ASCII ids. */
function sortByChannel(rows: CountRow[], from: number): void {
  let sorted = true;
  for (let i = from + 1; i < rows.length && sorted; i++)
    sorted = rows[i - 1].channel_id <= rows[i].channel_id;
  if (sorted) return;
  const tail = rows
    .slice(from)
    .sort((a, b) => (a.channel_id < b.channel_id ? -1 : a.channel_id > b.channel_id ? 1 : 0));
  for (let i = 0; i < tail.length; i++) rows[from + i] = tail[i];
}
