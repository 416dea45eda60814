// The bridge's on-disk outbox (SQLite, WAL, synchronous = FULL): every spikes message is committed here, with its
// seq, before it is sent, and stays until the daemon acks it; after a reconnect everything after the daemon's
// lastAckedSeq is sent again in seq order. Seqs are numbered per session and persisted, so a bridge killed with -9
// and restarted neither reuses a seq for other data nor forgets a message. The outbox also remembers which trials
// of a session it has answered (sent, or reported missing), so a restarted bridge ignores their re-announcements,
// and the bridge's stable id (its hello's bridgeId).
import { randomUUID } from "node:crypto";
import Database from "better-sqlite3";

export interface OutboxMessage {
  seq: number;
  trialId: number;
  text: string;
}

export type TrialOutcome = "sent" | "missing" | "rejected";

export class Outbox {
  readonly db: Database.Database;
  private readonly stmts: Record<string, Database.Statement>;
  private ackQueue: number[] = [];
  private ackTimer: NodeJS.Timeout | null = null;
  private session: string | null = null;

  constructor(readonly path: string) {
    this.db = new Database(path);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = FULL");
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS sessions (session_id TEXT PRIMARY KEY, next_seq INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS outbox (
        session_id TEXT NOT NULL, seq INTEGER NOT NULL, trial_id INTEGER NOT NULL, text TEXT NOT NULL,
        PRIMARY KEY (session_id, seq));
      CREATE TABLE IF NOT EXISTS trials (
        session_id TEXT NOT NULL, trial_id INTEGER NOT NULL, outcome TEXT NOT NULL,
        PRIMARY KEY (session_id, trial_id));
    `);
    this.stmts = {
      meta: this.db.prepare("SELECT value FROM meta WHERE key = ?"),
      setMeta: this.db.prepare("INSERT INTO meta (key, value) VALUES (?, ?)"),
      session: this.db.prepare("INSERT OR IGNORE INTO sessions (session_id, next_seq) VALUES (?, 1)"),
      nextSeq: this.db.prepare("SELECT next_seq FROM sessions WHERE session_id = ?"),
      bumpSeq: this.db.prepare("UPDATE sessions SET next_seq = ? WHERE session_id = ?"),
      insert: this.db.prepare("INSERT INTO outbox (session_id, seq, trial_id, text) VALUES (?, ?, ?, ?)"),
      trial: this.db.prepare("INSERT OR IGNORE INTO trials (session_id, trial_id, outcome) VALUES (?, ?, ?)"),
      trialGet: this.db.prepare("SELECT outcome FROM trials WHERE session_id = ? AND trial_id = ?"),
      remove: this.db.prepare("DELETE FROM outbox WHERE session_id = ? AND seq = ?"),
      removeUpTo: this.db.prepare("DELETE FROM outbox WHERE session_id = ? AND seq <= ?"),
      pending: this.db.prepare(
        "SELECT seq, trial_id AS trialId, text FROM outbox WHERE session_id = ? ORDER BY seq",
      ),
      one: this.db.prepare(
        "SELECT seq, trial_id AS trialId, text FROM outbox WHERE session_id = ? AND seq = ?",
      ),
      count: this.db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE session_id = ?"),
    };
  }

  /** The bridge's stable id, made on first use and kept in the outbox. */
  bridgeId(prefix: string): string {
    const row = this.stmts.meta.get("bridgeId") as { value: string } | undefined;
    if (row) return row.value;
    const id = `${prefix}-${randomUUID()}`;
    this.stmts.setMeta.run("bridgeId", id);
    return id;
  }

  /** The daemon's session (from its welcome): seqs and answered trials are per session. */
  useSession(sessionId: string): void {
    this.flushAcks();
    this.session = sessionId;
    this.stmts.session.run(sessionId);
  }

  get sessionId(): string | null {
    return this.session;
  }

  /**
   * Commit the messages of these trials (each built from its new seq) and record the trials as answered, in one
   * transaction; returns them with their seqs. Only after this returns may they be sent.
   */
  add(items: ReadonlyArray<{ trialId: number; build: (seq: number) => string }>): OutboxMessage[] {
    const session = this.requireSession();
    return this.db.transaction(() => {
      let next = (this.stmts.nextSeq.get(session) as { next_seq: number }).next_seq;
      const out: OutboxMessage[] = [];
      for (const it of items) {
        const seq = next++;
        const text = it.build(seq);
        this.stmts.insert.run(session, seq, it.trialId, text);
        this.stmts.trial.run(session, it.trialId, "sent");
        out.push({ seq, trialId: it.trialId, text });
      }
      this.stmts.bumpSeq.run(next, session);
      return out;
    })();
  }

  /** Record a trial answered without data (missing code, rejected message). */
  markTrial(trialId: number, outcome: TrialOutcome): void {
    this.stmts.trial.run(this.requireSession(), trialId, outcome);
  }

  trialOutcome(trialId: number): TrialOutcome | undefined {
    if (!this.session) return undefined;
    return (this.stmts.trialGet.get(this.session, trialId) as { outcome: TrialOutcome } | undefined)?.outcome;
  }

  /** The daemon has stored `seq`: forget it (deletes are batched; a lost delete only means a harmless resend). */
  acked(seq: number): void {
    this.ackQueue.push(seq);
    this.ackTimer ??= setTimeout(() => this.flushAcks(), 20);
  }

  /** A message the daemon refused for good (its error was not EPHYS_STORE_FAILED). */
  drop(seq: number): void {
    this.stmts.remove.run(this.requireSession(), seq);
  }

  /** After a welcome: drop what the daemon holds (seq ≤ lastAckedSeq); returns the rest, in seq order. */
  replayAfter(lastAckedSeq: number): OutboxMessage[] {
    const session = this.requireSession();
    this.flushAcks();
    this.stmts.removeUpTo.run(session, lastAckedSeq);
    return this.stmts.pending.all(session) as OutboxMessage[];
  }

  /** A kept message by seq (undefined once acked). */
  message(seq: number): OutboxMessage | undefined {
    if (!this.session) return undefined;
    return this.stmts.one.get(this.session, seq) as OutboxMessage | undefined;
  }

  get pendingCount(): number {
    if (!this.session) return 0;
    return (this.stmts.count.get(this.session) as { n: number }).n;
  }

  flushAcks(): void {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    if (!this.ackQueue.length || !this.session) return;
    const session = this.session;
    const seqs = this.ackQueue;
    this.ackQueue = [];
    this.db.transaction(() => {
      for (const s of seqs) this.stmts.remove.run(session, s);
    })();
  }

  close(): void {
    this.flushAcks();
    this.db.close();
  }

  private requireSession(): string {
    if (!this.session) throw new Error("outbox: no session yet (no welcome from the daemon)");
    return this.session;
  }
}
