// /intervals/trials: one row per presentation the daemon announced (id = the store's trial id), shown or voided:
//   start_time/stop_time: the display's onset and offset for shown presentations; for voided ones, which never had
//   an onset, the time the daemon announced the presentation and the time it voided it (NaN while unsettled);
//   stimulus_id, stimulus_template (its index in /stimulus/templates/presented_images, −1 when not stored), phase,
//   block, event_code, status, void_reason, announced_time, dropped_frames (−1: not reported) and, when the store
//   has them, photodiode_onset (s; NaN where missing).
// /intervals/epochs: the day's states in order (state, start = entered, stop = the next state entered).
import type { SessionStore, TrialRecord } from "../../store/store.ts";
import type { SessionClock } from "./clock.ts";
import { type Group, H5 } from "./h5.ts";
import { TableWriter } from "./hdmf.ts";

export type StoredTrial = TrialRecord & { createdAt: string };

/** What the event log says about the session beyond the trials table: why and when presentations were voided. */
export interface SessionEvents {
  voided: Map<number, { t: number; reason: string }>;
  states: Array<{ state: string; t: number }>;
}

const FINAL_STATES = new Set(["done", "failed", "aborted"]);

/** Read the voided-trial and state events (paged; other events are skipped). */
export function readSessionEvents(store: SessionStore, sessionId: string): SessionEvents {
  const out: SessionEvents = { voided: new Map(), states: [] };
  for (let after = 0; ; ) {
    const page = store.events(sessionId, after, 5000);
    for (const e of page) {
      if (e.type === "state") out.states.push({ state: e.subtype, t: e.t });
      else if (e.type === "trial" && e.subtype === "voided") {
        try {
          const c = JSON.parse(e.content) as { trialId?: unknown; reason?: unknown };
          if (typeof c.trialId === "number")
            out.voided.set(c.trialId, { t: e.t, reason: typeof c.reason === "string" ? c.reason : "" });
        } catch {
          // a record whose content is not JSON says nothing about a trial
        }
      }
    }
    if (page.length < 5000) return out;
    after = page[page.length - 1].id;
  }
}

/** The photodiode onset (daemon ms) the rig box measured for a trial (protocol-2 boxes), if any. */
export function photodiodeOnsetMs(t: TrialRecord): number | undefined {
  const v = t.pdOnsetMs;
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

export interface TrialsSummary {
  rows: number;
  shown: number;
  voided: number;
  pending: number;
  photodiode: boolean;
}

export function writeTrials(
  intervals: Group,
  trials: StoredTrial[],
  events: SessionEvents,
  clock: SessionClock,
  templateIndex: Map<string, number>,
): TrialsSummary {
  const n = trials.length;
  const table = new TableWriter(intervals, "trials", n, {
    type: "TimeIntervals",
    namespace: "core",
    description:
      "Every presentation the daemon announced, in order (id = the session store's trial id). Times in seconds " +
      "after session_start_time on the daemon's clock: onset and offset for shown presentations; announcement " +
      "and voiding for voided ones.",
  });
  const start = new Float64Array(n);
  const stop = new Float64Array(n);
  trials.forEach((t, i) => {
    const announced = clock.seconds(Date.parse(t.createdAt));
    if (t.status === "shown") {
      start[i] = t.onsetMs !== undefined ? clock.seconds(t.onsetMs) : announced;
      stop[i] = t.offsetMs !== undefined ? clock.seconds(t.offsetMs) : Number.NaN;
    } else {
      start[i] = announced;
      const v = events.voided.get(t.trialId);
      stop[i] = t.status === "voided" && v ? clock.seconds(v.t) : Number.NaN;
    }
  });
  table.numbers(
    "start_time",
    "Onset (shown) or announcement (voided, pending) of the presentation, s.",
    start,
    H5.f64,
  );
  table.numbers(
    "stop_time",
    "Offset (shown) or voiding (voided) of the presentation, s; NaN: unknown.",
    stop,
    H5.f64,
  );
  table.text(
    "stimulus_id",
    "The stimulus shown (set/image id).",
    trials.map((t) => t.stimulusId),
  );
  table.numbers(
    "stimulus_template",
    "Index of the stimulus in /stimulus/templates/presented_images (order_of_images); -1: not stored.",
    Int32Array.from(trials, (t) => templateIndex.get(t.stimulusId) ?? -1),
    H5.i32,
  );
  table.numbers(
    "phase",
    "Phase of the day (1: screening, 2: selected stimuli).",
    Uint8Array.from(trials, (t) => t.phase),
    H5.u8,
  );
  table.numbers(
    "block",
    "Block within the phase (each stimulus once per block).",
    Int32Array.from(trials, (t) => t.block),
    H5.i32,
  );
  table.numbers(
    "event_code",
    "Event code sent to the rig box and the acquisition system for this presentation.",
    Int32Array.from(trials, (t) => t.eventCode),
    H5.i32,
  );
  table.text(
    "status",
    "shown, voided (fixation break, display timeout, interruption) or pending (announced, never settled).",
    trials.map((t) => t.status),
  );
  table.text(
    "void_reason",
    "Why a voided presentation was voided (empty otherwise).",
    trials.map((t) => (t.status === "voided" ? (events.voided.get(t.trialId)?.reason ?? "") : "")),
  );
  table.numbers(
    "announced_time",
    "When the daemon recorded and announced the presentation, s.",
    Float64Array.from(trials, (t) => clock.seconds(Date.parse(t.createdAt))),
    H5.f64,
  );
  table.numbers(
    "dropped_frames",
    "Display frames dropped during the presentation as the display reported them; -1: not reported.",
    Int32Array.from(trials, (t) => t.droppedFrames ?? -1),
    H5.i32,
  );
  const photodiode = trials.some((t) => photodiodeOnsetMs(t) !== undefined);
  if (photodiode)
    table.numbers(
      "photodiode_onset",
      "Onset of the stimulus as the photodiode saw it, s; NaN where none was recorded.",
      Float64Array.from(trials, (t) => {
        const ms = photodiodeOnsetMs(t);
        return ms === undefined ? Number.NaN : clock.seconds(ms);
      }),
      H5.f64,
    );
  table.finish(Int32Array.from(trials, (t) => t.trialId));
  return {
    rows: n,
    shown: trials.filter((t) => t.status === "shown").length,
    voided: trials.filter((t) => t.status === "voided").length,
    pending: trials.filter((t) => t.status === "pending").length,
    photodiode,
  };
}

/** /intervals/epochs: each state the day entered, until the next. */
export function writeEpochs(intervals: Group, events: SessionEvents, clock: SessionClock): number {
  const s = events.states;
  const table = new TableWriter(intervals, "epochs", s.length, {
    type: "TimeIntervals",
    namespace: "core",
    description:
      "The states of the recording day in the order the daemon entered them (a restarted daemon enters its state again).",
  });
  table.numbers(
    "start_time",
    "When the state was entered, s.",
    Float64Array.from(s, (e) => clock.seconds(e.t)),
    H5.f64,
  );
  table.numbers(
    "stop_time",
    "When the next state was entered, s (a final state: its start; the last state otherwise: NaN).",
    Float64Array.from(s, (e, i) =>
      i + 1 < s.length
        ? clock.seconds(s[i + 1].t)
        : FINAL_STATES.has(e.state)
          ? clock.seconds(e.t)
          : Number.NaN,
    ),
    H5.f64,
  );
  table.text(
    "state",
    "The day machine's state (e.g. phase1.running, fitting, done).",
    s.map((e) => e.state),
  );
  table.finish();
  return s.length;
}
