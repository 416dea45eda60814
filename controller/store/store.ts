// The session database: better-sqlite3 in WAL mode. Writes that belong together are one transaction; every
// insert of trial data is idempotent (a replayed message is a no-op). Data are durable when a method returns.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { migrations } from "./migrations.ts";

export type Db = Database.Database;

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
  weights_sha256: string | null;
  state: string;
  snapshot: string | null;
  failed_reason: string | null;
  started_at: string | null;
  ended_at: string | null;
}

export interface NewSession {
  id: string;
  protocolName: string;
  protocolPath: string;
  protocolText: string;
  protocolSha256: string;
  codeVersion: string;
  software: Record<string, string>;
  seed: number;
  rig?: string;
  subject?: string;
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
}

/** One acquisition message's data: per channel, counts per window and optionally the raw spike times. */
export interface TrialSpikeData {
  seq: number;
  trialId: number;
  channels: Array<{ channelId: string; counts: Record<string, number>; spikes?: Float32Array }>;
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
      db.pragma(`user_version = ${m.version}`);
    })();
  }
  return db.pragma("user_version", { simple: true }) as number;
}

const now = () => new Date().toISOString();

export class SessionStore {
  readonly db: Db;
  private readonly stmts;
  private readonly listeners = new Set<(e: EventRecord) => void>();

  constructor(pathOrDb: string | Db) {
    this.db = typeof pathOrDb === "string" ? openDatabase(pathOrDb) : pathOrDb;
    const db = this.db;
    this.stmts = {
      event: db.prepare("INSERT INTO events (session_id, t, type, subtype, content) VALUES (?, ?, ?, ?, ?)"),
      seqSeen: db.prepare("SELECT 1 FROM acquisition_messages WHERE session_id = ? AND seq = ?"),
      seqInsert: db.prepare(
        "INSERT INTO acquisition_messages (session_id, seq, trial_id, received_at) VALUES (?, ?, ?, ?)",
      ),
      countInsert: db.prepare(
        "INSERT OR IGNORE INTO spike_counts (session_id, trial_id, channel_id, counts, spikes) VALUES (?, ?, ?, ?, ?)",
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
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO sessions (id, created_at, protocol_name, protocol_path, protocol_text, protocol_sha256,
             code_version, software, seed, rig, subject, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'preparing')`,
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
        );
      this.appendEvent(s.id, "session", "created", { protocol: s.protocolName, sha256: s.protocolSha256 });
    })();
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
  saveSnapshot(sessionId: string, state: string, snapshot: unknown, failedReason?: string): void {
    this.db.transaction(() => {
      const ended = ["done", "failed", "aborted"].includes(state) ? now() : null;
      this.db
        .prepare(
          `UPDATE sessions SET state = ?, snapshot = ?, failed_reason = COALESCE(?, failed_reason),
             started_at = COALESCE(started_at, ?), ended_at = COALESCE(?, ended_at) WHERE id = ?`,
        )
        .run(state, JSON.stringify(snapshot), failedReason ?? null, now(), ended, sessionId);
      this.appendEvent(sessionId, "state", state, failedReason ? { reason: failedReason } : {});
    })();
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
    this.db.transaction(() => {
      for (const c of channels) stmt.run(sessionId, c.id, c.probe, c.index);
    })();
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
    this.db.transaction(() => {
      for (const s of stimuli) stmt.run(sessionId, s.id, s.setId, s.category, s.role, s.path, s.sha256);
    })();
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
      reason?: string;
    },
  ): boolean {
    return this.db.transaction(() => {
      const r = this.db
        .prepare(
          `UPDATE trials SET status = ?, onset_ms = ?, offset_ms = ?, dropped_frames = ?
           WHERE session_id = ? AND trial_id = ? AND status = 'pending'`,
        )
        .run(
          outcome.status,
          outcome.onsetMs ?? null,
          outcome.offsetMs ?? null,
          outcome.droppedFrames ?? null,
          sessionId,
          trialId,
        );
      if (r.changes > 0 && outcome.status === "voided")
        this.appendEvent(sessionId, "trial", "voided", { trialId, reason: outcome.reason ?? "" });
      return r.changes > 0;
    })();
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
        `SELECT trial_id, phase, block, stimulus_id, event_code, status, onset_ms, offset_ms, dropped_frames, created_at
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
      createdAt: r.created_at as string,
    }));
  }

  /**
   * Store one or more acquisition messages in ONE transaction; returns, per message, whether it was new.
   * A seq seen before is not stored again; a (trial, channel) stored before is kept as first stored.
   */
  ingest(sessionId: string, messages: TrialSpikeData[]): boolean[] {
    const received = now();
    return this.db.transaction(() =>
      messages.map((m) => {
        if (this.stmts.seqSeen.get(sessionId, m.seq)) return false;
        this.stmts.seqInsert.run(sessionId, m.seq, m.trialId, received);
        for (const c of m.channels) {
          const blob = c.spikes
            ? Buffer.from(c.spikes.buffer, c.spikes.byteOffset, c.spikes.byteLength)
            : null;
          this.stmts.countInsert.run(sessionId, m.trialId, c.channelId, JSON.stringify(c.counts), blob);
        }
        return true;
      }),
    )();
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

  /** Trial ids (shown) that have spike data for every one of the given channels. */
  trialsWithData(sessionId: string, channelCount: number): Set<number> {
    const rows = this.db
      .prepare(
        "SELECT trial_id FROM spike_counts WHERE session_id = ? GROUP BY trial_id HAVING COUNT(*) >= ?",
      )
      .all(sessionId, channelCount) as Array<{ trial_id: number }>;
    return new Set(rows.map((r) => r.trial_id));
  }

  /** Counts of shown (not voided) trials, joined with their stimulus and phase. */
  counts(sessionId: string, phase?: 1 | 2): CountRow[] {
    const rows = this.db
      .prepare(
        `SELECT c.trial_id, c.channel_id, t.stimulus_id, t.phase, c.counts FROM spike_counts c
         JOIN trials t ON t.session_id = c.session_id AND t.trial_id = c.trial_id
         WHERE c.session_id = ? AND t.status = 'shown' ${phase ? "AND t.phase = ?" : ""}
         ORDER BY c.trial_id, c.channel_id`,
      )
      .all(...(phase ? [sessionId, phase] : [sessionId])) as Array<Record<string, unknown>>;
    return rows.map((r) => ({
      trial_id: r.trial_id as number,
      channel_id: r.channel_id as string,
      stimulus_id: r.stimulus_id as string,
      phase: r.phase as number,
      counts: JSON.parse(r.counts as string) as Record<string, number>,
    }));
  }

  saveSplits(sessionId: string, splits: Record<string, "train" | "validation" | "test">): void {
    const stmt = this.db.prepare(
      "INSERT INTO splits (session_id, stimulus_id, split) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET split = excluded.split",
    );
    this.db.transaction(() => {
      for (const [id, split] of Object.entries(splits)) stmt.run(sessionId, id, split);
    })();
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
    this.db.transaction(() => {
      for (const m of models)
        stmt.run(sessionId, m.channelId, m.kind, JSON.stringify(m.params), JSON.stringify(m.metrics), now());
      this.appendEvent(sessionId, "models", "saved", { channels: models.length });
    })();
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
    this.db.transaction(() => {
      for (const c of choices) stmt.run(sessionId, c.channelId, c.stimulusId, c.rule, c.score);
      this.appendEvent(sessionId, "selection", "saved", { choices: choices.length });
    })();
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
    results: Array<{
      channelId: string;
      name: string;
      value: number | null;
      threshold: number | null;
      passed: boolean;
      details: unknown;
    }>,
    decisions: Array<{ channelId: string; included: boolean; reason: string }>,
  ): void {
    const r = this.db.prepare(
      "INSERT OR REPLACE INTO check_results (session_id, channel_id, name, value, threshold, passed, details) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    const d = this.db.prepare(
      "INSERT OR REPLACE INTO channel_decisions (session_id, channel_id, included, reason) VALUES (?, ?, ?, ?)",
    );
    this.db.transaction(() => {
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
    })();
  }

  checkResults(sessionId: string): Array<{
    channelId: string;
    name: string;
    value: number | null;
    threshold: number | null;
    passed: boolean;
    details: unknown;
  }> {
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
