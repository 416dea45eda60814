// The spike data: one packed trial_data row per acquisition message (packed.ts: channel ids, window counts,
// float64 spike times), the messages' seqs and digests (duplicates and conflicts), the channel sets the rows refer
// to, the onsets bridges report, and the reads the day and the monitor make of them.

import { type Db, now } from "./database.ts";
import { countsOf, type PackedTrial, packRecords, subsetChannels } from "./packed.ts";
import { blob, f64, u32 } from "./packing.ts";
import type {
  CountRow,
  IngestOutcome,
  StoredTrialPart,
  TrialDataCursor,
  TrialDataRow,
  TrialOnsetRecord,
  TrialSpikeData,
} from "./records.ts";

export class TrialDataTable {
  private readonly stmts;
  /** Channel sets by id (session \0 id → ids), filled from committed rows only. */
  private readonly setsById = new Map<string, string[]>();
  /** The set the last stored message used (most messages of a session carry the same channels in the same order). */
  private lastSet: { sessionId: string; ids: string[]; id: number } | null = null;

  constructor(private readonly db: Db) {
    this.stmts = {
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
    };
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
  counts(sessionId: string, phase?: 1 | 2 | 3): CountRow[] {
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
