// Versioned schema migrations, applied in order inside one transaction each; PRAGMA user_version holds the version.
// A migration is SQL, and optionally a step in code that runs after it in the same transaction (data conversions
// SQL cannot express, such as packing rows into blobs).
import type Database from "better-sqlite3";
import { blob, f32, packLegacyTrial } from "./packing.ts";

export interface Migration {
  version: number;
  description: string;
  sql: string;
  run?: (db: Database.Database) => void;
}

export const migrations: Migration[] = [
  {
    version: 1,
    description:
      "sessions, channels, stimuli, trials, spike data, models, selections, checks, artifacts, event log",
    sql: `
      CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        protocol_name TEXT NOT NULL,
        protocol_path TEXT NOT NULL,
        protocol_text TEXT NOT NULL,
        protocol_sha256 TEXT NOT NULL,
        code_version TEXT NOT NULL,
        software TEXT NOT NULL,          -- JSON: node, dependency versions
        seed INTEGER NOT NULL,
        rig TEXT,
        subject TEXT,
        weights_sha256 TEXT,
        state TEXT NOT NULL,             -- top-level machine state, for listing
        snapshot TEXT,                   -- persisted xstate snapshot (JSON)
        failed_reason TEXT,
        started_at TEXT,
        ended_at TEXT
      );
      CREATE TABLE channels (
        session_id TEXT NOT NULL REFERENCES sessions(id),
        id TEXT NOT NULL,
        probe TEXT NOT NULL,
        idx INTEGER NOT NULL,
        PRIMARY KEY (session_id, id)
      );
      CREATE TABLE stimuli (
        session_id TEXT NOT NULL REFERENCES sessions(id),
        id TEXT NOT NULL,
        set_id TEXT NOT NULL,
        category TEXT NOT NULL,
        role TEXT NOT NULL,
        path TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        PRIMARY KEY (session_id, id)
      );
      CREATE TABLE trials (
        session_id TEXT NOT NULL REFERENCES sessions(id),
        trial_id INTEGER NOT NULL,        -- global presentation counter of the session
        phase INTEGER NOT NULL,
        block INTEGER NOT NULL,
        stimulus_id TEXT NOT NULL,
        event_code INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'shown', 'voided')), -- pending: announced, outcome not yet known
        onset_ms REAL,
        offset_ms REAL,
        dropped_frames INTEGER,
        created_at TEXT NOT NULL,
        PRIMARY KEY (session_id, trial_id)
      );
      CREATE TABLE spike_counts (
        session_id TEXT NOT NULL,
        trial_id INTEGER NOT NULL,
        channel_id TEXT NOT NULL,
        counts TEXT NOT NULL,             -- JSON {window name: count}
        spikes BLOB,                      -- float32 spike times (ms from onset), when sent
        PRIMARY KEY (session_id, trial_id, channel_id)
      );
      CREATE TABLE acquisition_messages (
        session_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        trial_id INTEGER NOT NULL,
        received_at TEXT NOT NULL,
        PRIMARY KEY (session_id, seq)
      );
      CREATE TABLE splits (
        session_id TEXT NOT NULL,
        stimulus_id TEXT NOT NULL,
        split TEXT NOT NULL CHECK (split IN ('train', 'validation', 'test')),
        PRIMARY KEY (session_id, stimulus_id)
      );
      CREATE TABLE models (
        session_id TEXT NOT NULL,
        channel_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        params TEXT NOT NULL,             -- JSON
        metrics TEXT NOT NULL,            -- JSON
        created_at TEXT NOT NULL,
        PRIMARY KEY (session_id, channel_id)
      );
      CREATE TABLE selections (
        session_id TEXT NOT NULL,
        channel_id TEXT NOT NULL,
        stimulus_id TEXT NOT NULL,
        rule TEXT NOT NULL,
        score REAL,
        PRIMARY KEY (session_id, channel_id, rule, stimulus_id)
      );
      CREATE TABLE check_results (
        session_id TEXT NOT NULL,
        channel_id TEXT NOT NULL,
        name TEXT NOT NULL,
        value REAL,
        threshold REAL,
        passed INTEGER NOT NULL,
        details TEXT NOT NULL,            -- JSON: every number behind the decision
        PRIMARY KEY (session_id, channel_id, name)
      );
      CREATE TABLE channel_decisions (
        session_id TEXT NOT NULL,
        channel_id TEXT NOT NULL,
        included INTEGER NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (session_id, channel_id)
      );
      CREATE TABLE artifacts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id TEXT NOT NULL,
        channel_id TEXT,
        kind TEXT NOT NULL,
        path TEXT,
        meta TEXT NOT NULL,               -- JSON
        created_at TEXT NOT NULL
      );
      CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id TEXT,
        t REAL NOT NULL,                  -- ms since the Unix epoch
        type TEXT NOT NULL,
        subtype TEXT NOT NULL,
        content TEXT NOT NULL             -- JSON
      );
      CREATE INDEX events_session ON events(session_id, id);
      CREATE INDEX spike_counts_channel ON spike_counts(session_id, channel_id);
      CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
      CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
    `,
  },
  {
    version: 2,
    description:
      "drop spike_counts_channel: nothing reads through it and it doubled the cost of every ingest",
    sql: "DROP INDEX IF EXISTS spike_counts_channel;",
  },
  {
    version: 3,
    description:
      "one packed row per acquisition message (trial_data) instead of one row per (trial, channel); message digests",
    sql: `
      CREATE TABLE channel_sets (
        session_id TEXT NOT NULL,
        id INTEGER NOT NULL,
        channels TEXT NOT NULL,           -- JSON array of channel ids: the order of a trial_data row's arrays
        PRIMARY KEY (session_id, id)
      );
      CREATE UNIQUE INDEX channel_sets_text ON channel_sets(session_id, channels);
      CREATE TABLE trial_data (
        id INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL,
        trial_id INTEGER NOT NULL,
        seq INTEGER,                      -- the acquisition message; NULL for rows migrated from spike_counts
        channel_set INTEGER NOT NULL,     -- channel_sets.id
        n_channels INTEGER NOT NULL,
        windows TEXT NOT NULL,            -- JSON array of window names: the columns of counts
        counts BLOB NOT NULL,             -- uint32 LE [channel][window]; 0xffffffff: window not named (counts message)
        offsets BLOB,                     -- uint32 LE [n_channels + 1]: channel c's spikes are spikes[offsets[c]..offsets[c+1])
        spikes BLOB                       -- float32 LE spike times (ms from onset); NULL when only counts were sent (float64 from version 4)
      );
      CREATE INDEX trial_data_trial ON trial_data(session_id, trial_id);
      ALTER TABLE acquisition_messages ADD COLUMN digest TEXT;  -- NULL for messages stored before version 3
    `,
    run: (db) => {
      // Each trial's rows become one trial_data row (two when some channels had spike times and some did not).
      const rows = db
        .prepare(
          "SELECT session_id, trial_id, channel_id, counts, spikes FROM spike_counts ORDER BY session_id, trial_id, channel_id",
        )
        .all() as Array<{
        session_id: string;
        trial_id: number;
        channel_id: string;
        counts: string;
        spikes: Buffer | null;
      }>;
      const setIds = new Map<string, number>();
      const insertSet = db.prepare("INSERT INTO channel_sets (session_id, id, channels) VALUES (?, ?, ?)");
      const insert = db.prepare(
        `INSERT INTO trial_data (session_id, trial_id, seq, channel_set, n_channels, windows, counts, offsets, spikes)
         VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?)`,
      );
      let i = 0;
      while (i < rows.length) {
        let j = i;
        while (
          j < rows.length &&
          rows[j].session_id === rows[i].session_id &&
          rows[j].trial_id === rows[i].trial_id
        )
          j++;
        const group = rows.slice(i, j);
        for (const withSpikes of [true, false]) {
          const part = group.filter((r) => (r.spikes !== null) === withSpikes);
          if (part.length === 0) continue;
          const packed = packLegacyTrial(
            part.map((r) => ({ channelId: r.channel_id, counts: JSON.parse(r.counts), spikes: r.spikes })),
          );
          const key = `${rows[i].session_id}\u0000${packed.channelsJson}`;
          let setId = setIds.get(key);
          if (setId === undefined) {
            setId = setIds.size + 1;
            setIds.set(key, setId);
            insertSet.run(rows[i].session_id, setId, packed.channelsJson);
          }
          insert.run(
            rows[i].session_id,
            rows[i].trial_id,
            setId,
            part.length,
            packed.windowsJson,
            packed.counts,
            packed.offsets,
            packed.spikes,
          );
        }
        i = j;
      }
      db.exec("DROP TABLE spike_counts;");
    },
  },
  {
    version: 4,
    description:
      "spike times as float64, exactly the numbers the bridge sent (float32 rounded them, and turned times beyond its range into ±inf)",
    sql: "",
    run: (db) => {
      // In batches of rows (an update cannot run while a select is being iterated), so memory stays bounded.
      const select = db.prepare(
        "SELECT id, spikes FROM trial_data WHERE spikes IS NOT NULL AND id > ? ORDER BY id LIMIT 500",
      );
      const update = db.prepare("UPDATE trial_data SET spikes = ? WHERE id = ?");
      for (let last = 0; ; ) {
        const rows = select.all(last) as Array<{ id: number; spikes: Buffer }>;
        if (rows.length === 0) break;
        for (const r of rows) update.run(blob(Float64Array.from(f32(r.spikes))), r.id);
        last = rows[rows.length - 1].id;
      }
    },
  },
  {
    version: 5,
    description:
      "each trial's onset on the acquisition clock as a bridge reported it (photodiode or event word)",
    sql: `
      CREATE TABLE trial_onsets (
        session_id TEXT NOT NULL,
        trial_id INTEGER NOT NULL,
        seq INTEGER NOT NULL,              -- the spikes message that brought it (the first one is kept)
        source TEXT NOT NULL,              -- 'photodiode' | 'event'
        sample INTEGER NOT NULL,           -- the onset's acquisition sample number
        sample_rate REAL NOT NULL,
        photodiode_minus_event_ms REAL,    -- NULL without a photodiode onset
        PRIMARY KEY (session_id, trial_id)
      );
    `,
  },
  {
    version: 6,
    description:
      "rig box version 2: photodiode onset/offset and the eye during each presentation; eye calibrations",
    sql: `
      ALTER TABLE trials ADD COLUMN pd_onset_ms REAL;    -- photodiode edges on the daemon's clock; NULL: not measured
      ALTER TABLE trials ADD COLUMN pd_offset_ms REAL;
      ALTER TABLE trials ADD COLUMN eye_n INTEGER;       -- EYE samples during the presentation; NULL: no stream
      ALTER TABLE trials ADD COLUMN eye_mean_x_deg REAL;
      ALTER TABLE trials ADD COLUMN eye_mean_y_deg REAL;
      ALTER TABLE trials ADD COLUMN eye_sd_deg REAL;     -- root mean square distance from the mean position
      CREATE TABLE eye_calibrations (
        session_id TEXT NOT NULL,
        id INTEGER NOT NULL,              -- 1, 2, … per session; the highest is the one in use
        created_at TEXT NOT NULL,
        points TEXT NOT NULL,             -- JSON [{xDeg, yDeg, xMv, yMv, n}]: each target and the eye inputs on it
        map TEXT NOT NULL,                -- JSON [ax, bx, cx, ay, by, cy]: degrees from volts, sent to the box as CAL
        rms_deg REAL NOT NULL,            -- fit residuals over the points
        max_deg REAL NOT NULL,
        PRIMARY KEY (session_id, id)
      );
    `,
  },
  {
    version: 7,
    description:
      "who or what aborted a session, as a column (it was read out of the persisted machine snapshot)",
    sql: "ALTER TABLE sessions ADD COLUMN aborted_by TEXT;",
    run: (db) => {
      const rows = db.prepare("SELECT id, snapshot FROM sessions WHERE snapshot IS NOT NULL").all() as Array<{
        id: string;
        snapshot: string;
      }>;
      const update = db.prepare("UPDATE sessions SET aborted_by = ? WHERE id = ?");
      for (const r of rows) {
        let by: unknown = null;
        try {
          by = (JSON.parse(r.snapshot) as { context?: { abortedBy?: unknown } })?.context?.abortedBy ?? null;
        } catch {
          // an unreadable snapshot leaves the column empty
        }
        if (typeof by === "string") update.run(by, r.id);
      }
    },
  },
  {
    version: 8,
    description:
      "where a session recorded: the probe, its depth (µm) and the brain region, beside subject and rig",
    sql: `
      ALTER TABLE sessions ADD COLUMN probe TEXT;
      ALTER TABLE sessions ADD COLUMN depth_um REAL;
      ALTER TABLE sessions ADD COLUMN region TEXT;
    `,
  },
];
