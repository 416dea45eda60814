// Versioned schema migrations, applied in order inside one transaction each; PRAGMA user_version holds the version.
export interface Migration {
  version: number;
  description: string;
  sql: string;
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
];
