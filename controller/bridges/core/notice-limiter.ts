// Repeats of one notice code collapsed, so a fault that hits every trial (a photodiode that fell off, a loose event
// line) tells the operator once, clearly, instead of pushing everything else off the event log and the dashboard.
// Per code: the first `verbatim` notices go out as they are; after that, one summary per `summaryEveryMs` while more
// come (how many, the trials they concern, the latest message); a code quiet for `resetAfterMs` starts over with
// `verbatim` notices as they are. Nothing is dropped without being counted. Pure: the caller passes the wall time.

import type { Notice } from "./daemon-link.ts";

export interface NoticeLimits {
  /** Notices of one code sent as they are before collapsing (default 5). */
  verbatim: number;
  /** While collapsed, one summary per code this often (wall ms; default 10 000). */
  summaryEveryMs: number;
  /** A code with no notice for this long (wall ms) starts over with `verbatim` notices as they are (default 60 000). */
  resetAfterMs: number;
}

export const defaultNoticeLimits: NoticeLimits = {
  verbatim: 5,
  summaryEveryMs: 10_000,
  resetAfterMs: 60_000,
};

interface CodeState {
  /** Notices sent as they are since the last reset. */
  sent: number;
  /** Wall time of the latest notice of this code. */
  lastMs: number;
  /** Held since the last summary: how many, since when, their trials, the latest. */
  held: number;
  heldSinceMs: number;
  trials: number[];
  latest: Notice | null;
}

/** How many trial ids a summary lists before it gives the range. */
const LISTED_TRIALS = 8;

export class NoticeLimiter {
  readonly limits: NoticeLimits;
  private readonly codes = new Map<string, CodeState>();

  constructor(
    private readonly emit: (n: Notice) => void,
    limits: Partial<NoticeLimits> = {},
  ) {
    this.limits = { ...defaultNoticeLimits, ...limits };
    for (const [k, v] of Object.entries(this.limits))
      if (!(Number.isFinite(v) && v >= 0))
        throw Object.assign(new Error(`notice limits: ${k}: expected a number >= 0, got ${v}`), {
          code: "EPHYS_BAD_OPTION",
        });
  }

  /** A notice: sent now, or held for the code's next summary. */
  push(n: Notice, nowMs: number): void {
    let s = this.codes.get(n.code);
    if (s && s.held === 0 && nowMs - s.lastMs >= this.limits.resetAfterMs) s.sent = 0;
    if (!s) {
      s = { sent: 0, lastMs: nowMs, held: 0, heldSinceMs: nowMs, trials: [], latest: null };
      this.codes.set(n.code, s);
    }
    s.lastMs = nowMs;
    if (s.sent < this.limits.verbatim && s.held === 0) {
      s.sent++;
      this.emit(n);
      return;
    }
    if (s.held === 0) s.heldSinceMs = nowMs;
    s.held++;
    if (n.trialId !== undefined) s.trials.push(n.trialId);
    s.latest = n;
  }

  /** Summaries of the codes whose period is over (call it on a timer). */
  tick(nowMs: number): void {
    for (const [code, s] of this.codes)
      if (s.held > 0 && nowMs - s.heldSinceMs >= this.limits.summaryEveryMs) this.summarize(code, s, nowMs);
  }

  /** Every held notice summarized now (the bridge is stopping). */
  flush(nowMs: number): void {
    for (const [code, s] of this.codes) if (s.held > 0) this.summarize(code, s, nowMs);
  }

  private summarize(code: string, s: CodeState, nowMs: number): void {
    const seconds = Math.max(1, Math.round((nowMs - s.heldSinceMs) / 1000));
    const t = s.trials;
    const trials =
      t.length === 0
        ? ""
        : t.length <= LISTED_TRIALS
          ? ` (trial${t.length > 1 ? "s" : ""} ${t.join(", ")})`
          : ` (${t.length} trials, ${Math.min(...t)} to ${Math.max(...t)})`;
    const more = s.held === 1 ? "1 more notice" : `${s.held} more notices`;
    this.emit({
      code,
      message: `${more} ${code} in the last ${seconds} s${trials}; latest: ${s.latest?.message ?? ""}`,
    });
    s.held = 0;
    s.trials = [];
    s.latest = null;
  }
}
