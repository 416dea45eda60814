// How far the day got, in the report's words: its stages in order, the last working stage, how it ended, and why
// a result is missing (which step makes it, and whether the day reached that step).
import type { ReportData } from "./types.ts";

/** The day's stages in order, with the words the report uses for them. */
const STAGES: Array<[string, string]> = [
  ["preparing", "preparation"],
  ["phase1", "phase 1"],
  ["fitting", "the model fit"],
  ["selecting", "the phase-2 selection"],
  ["synthesizing", "the synthesis of images on the models"],
  ["phase2", "phase 2"],
  ["checking", "the channel checks"],
  ["visualizing", "the shared-feature visualization"],
  ["fragmenting", "the phase-3 fragments"],
  ["phase3", "phase 3"],
  ["testing", "the causal test"],
  ["reporting", "the report"],
  ["done", "the end of the day"],
];
export const FINAL = new Set(["done", "failed", "aborted"]);
const stageOf = (state: string) => state.split(".")[0];
const label = (stage: string) => STAGES.find(([s]) => s === stage)?.[1] ?? stage;

/** States in which the day only writes its report after a failure or an abort: no working stage. */
const WINDING_UP = new Set(["failing", "aborting"]);

/** The last working (non-final) stage the day was in. */
export function lastStage(data: ReportData): string | null {
  const states = [...data.session.stateHistory.map((h) => h.state), data.session.state].map(stageOf);
  for (let i = states.length - 1; i >= 0; i--)
    if (!FINAL.has(states[i]) && !WINDING_UP.has(states[i])) return states[i];
  return null;
}

/** How the day ended (or that it has not), in words; null for a completed day. */
export function endedHow(data: ReportData): string | null {
  const s = data.session;
  const where = lastStage(data);
  const during = where ? ` during ${label(where)}` : "";
  if (s.state === "aborted")
    return `was aborted by ${s.abortedBy ?? "the operator"}${during}${s.failedReason ? ` (${s.failedReason})` : ""}`;
  if (s.state === "failed") return `failed${during}: ${s.failedReason ?? "no reason stored"}`;
  if (s.state === "done" || s.state === "reporting") return null;
  return `has not finished: it is in state ${s.state} (still running, or the daemon stopped and has not resumed it)`;
}

/** Why a result is missing: which step makes it, and whether the day got there. */
export function whyMissing(data: ReportData, what: string, producedBy: string): string {
  const reached = new Set(
    [...data.session.stateHistory.map((h) => h.state), data.session.state].map(stageOf),
  );
  const how = endedHow(data);
  const order = STAGES.map(([s]) => s);
  const ended = FINAL.has(data.session.state);
  const furthest = Math.max(...[...reached].map((s) => order.indexOf(s)));
  const producer = order.indexOf(producedBy);
  if (!reached.has(producedBy) && !(data.session.state === "done" && furthest > producer)) {
    if (ended && how)
      return `No ${what}: they come from ${label(producedBy)}, which this session never reached — it ${how}.`;
    return `No ${what} yet: they come from ${label(producedBy)}; the session ${how ?? "has not reached it"}.`;
  }
  if (stageOf(lastStage(data) ?? "") === producedBy && how) return `No ${what}: the session ${how}.`;
  return `No ${what} were stored, although the session went through ${label(producedBy)}.`;
}
