// Pairs stimulus onsets seen on the acquisition clock with the daemon's trial announcements, in order. The daemon
// announces each presentation before its event code goes out, and presentations are sequential, so the onsets
// arrive in announcement order: an onset whose code is that of the oldest waiting trial belongs to it. An onset
// whose code belongs to a later waiting trial means the earlier ones' codes never arrived (missing); one whose code
// belongs to a trial just declared missing means the earlier decision was wrong (out of order): that trial stays
// without data and the trial paired by that decision is revoked. An onset that matches no waiting trial is held
// briefly for a late announcement, then reported as extra. Nothing is ever shifted silently onto another trial.
// Pure: the caller passes the acquisition sample and the wall time of every step.

export interface AnnouncedTrial {
  trialId: number;
  eventCode: number;
  stimulusId: string;
}

export type MatchOutcome =
  | { kind: "paired"; trial: AnnouncedTrial; sample: number }
  | { kind: "missing"; trial: AnnouncedTrial; message: string }
  | { kind: "extra"; code: number; sample: number; message: string }
  | { kind: "out-of-order"; trial: AnnouncedTrial; sample: number; revoke: number; message: string };

export interface Clock {
  /** Latest acquisition sample seen (or estimated). */
  sample: number;
  /** Wall time, ms. */
  wallMs: number;
}

export interface MatcherOptions {
  sampleRate: number;
  /** A waiting trial whose code has not come this long after its announcement is missing (both clocks). */
  maxOnsetDelayMs: number;
  /** How long an unmatched onset waits for a late announcement (both clocks). */
  graceMs: number;
}

interface Waiting {
  trial: AnnouncedTrial;
  at: Clock;
}

const elapsed = (from: Clock, to: Clock, ms: number, rate: number) =>
  to.sample - from.sample > (ms * rate) / 1000 && to.wallMs - from.wallMs > ms;

export class TrialMatcher {
  private readonly waiting: Waiting[] = [];
  private readonly held: Array<{ code: number; at: Clock }> = [];
  private readonly skipped: Array<{ trial: AnnouncedTrial; causedBy: number; at: Clock }> = [];

  constructor(private readonly o: MatcherOptions) {}

  get waitingTrials(): readonly AnnouncedTrial[] {
    return this.waiting.map((w) => w.trial);
  }

  /** The earliest sample of an onset held for a late announcement (its photodiode rise and spikes must be kept). */
  get oldestHeldSample(): number | undefined {
    let oldest: number | undefined;
    for (const h of this.held) if (oldest === undefined || h.at.sample < oldest) oldest = h.at.sample;
    return oldest;
  }

  has(trialId: number): boolean {
    return this.waiting.some((w) => w.trial.trialId === trialId);
  }

  announce(trial: AnnouncedTrial, now: Clock): MatchOutcome[] {
    const h = this.held.findIndex((x) => x.code === trial.eventCode);
    if (h >= 0) {
      const [onset] = this.held.splice(h, 1);
      return [{ kind: "paired", trial, sample: onset.at.sample }];
    }
    this.waiting.push({ trial, at: now });
    return [];
  }

  onset(code: number, at: Clock): MatchOutcome[] {
    const i = this.waiting.findIndex((w) => w.trial.eventCode === code);
    if (i >= 0) {
      const out: MatchOutcome[] = [];
      const target = this.waiting[i].trial;
      for (const w of this.waiting.splice(0, i + 1).slice(0, i)) {
        out.push({
          kind: "missing",
          trial: w.trial,
          message:
            `trial ${w.trial.trialId} (event code ${w.trial.eventCode}): its code never arrived; the next code ` +
            `(${code}, trial ${target.trialId}) did at sample ${at.sample}`,
        });
        this.skipped.push({ trial: w.trial, causedBy: target.trialId, at });
      }
      out.push({ kind: "paired", trial: target, sample: at.sample });
      return out;
    }
    const s = this.skipped.findIndex((x) => x.trial.eventCode === code);
    if (s >= 0) {
      const [x] = this.skipped.splice(s, 1);
      return [
        {
          kind: "out-of-order",
          trial: x.trial,
          sample: at.sample,
          revoke: x.causedBy,
          message:
            `event code ${code} of trial ${x.trial.trialId} arrived at sample ${at.sample}, after the code of the ` +
            `later trial ${x.causedBy}: the order is broken, so neither trial gets data`,
        },
      ];
    }
    this.held.push({ code, at });
    return [];
  }

  /** Expire what waited too long: trials without a code (missing), onsets without a trial (extra). */
  tick(now: Clock): MatchOutcome[] {
    const { sampleRate: rate, maxOnsetDelayMs, graceMs } = this.o;
    const out: MatchOutcome[] = [];
    while (this.waiting.length && elapsed(this.waiting[0].at, now, maxOnsetDelayMs, rate)) {
      const w = this.waiting.shift()!;
      out.push({
        kind: "missing",
        trial: w.trial,
        message: `trial ${w.trial.trialId} (event code ${w.trial.eventCode}): no event code within ${maxOnsetDelayMs} ms of its announcement`,
      });
    }
    while (this.held.length && elapsed(this.held[0].at, now, graceMs, rate)) {
      const h = this.held.shift()!;
      out.push({
        kind: "extra",
        code: h.code,
        sample: h.at.sample,
        message: `event code ${h.code} at sample ${h.at.sample} matches no announced trial`,
      });
    }
    while (this.skipped.length && elapsed(this.skipped[0].at, now, maxOnsetDelayMs, rate))
      this.skipped.shift();
    return out;
  }
}
