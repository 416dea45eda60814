// Phase 3's plan, grown while it runs: part k is the stimuli of the k-th channel whose fragments were stored (its
// "fragments" artifact, in artifact order): its fragments and, with kinds "full", its parent images — a parent two
// channels share is shown in each one's part, so that each channel's test uses the trials of its own blocks
// (steps/test-fragments.ts, rates.ts trialRatesByPart). The explain step (steps/explain.ts) stores a channel's
// fragments as soon as its maps are cut and their features computed, and appends PLAN_COMPLETE when no channel is
// left; the runner (scheduler/phase-runner.ts) presents each part in its own blocks as it comes, and waits when the
// next is not made yet. Everything here is read from the store, so a restarted daemon finds the same parts in the
// same order.
import type { PhaseParts, PhaseStimulus } from "../scheduler/phase-runner.ts";
import { AbortedError } from "../scheduler/phase-runner.ts";
import type { EventRecord, SessionStore } from "../store/store.ts";
import type { StepContext } from "./context.ts";
import { eventCodes } from "./steps/prepare.ts";

/** The event the fragment step appends after a channel's "fragments" artifact, and the explain step's last. */
export const FRAGMENTS_READY = { type: "fragments", subtype: "channel-ready" } as const;
export const PLAN_COMPLETE = { type: "phase3-plan", subtype: "complete" } as const;
/** What the presentation appends when it waits for its next part (and when that part came). */
export const PRESENTER = { type: "phase3", waiting: "waiting", partReady: "part-ready" } as const;

/** True once the explain step has made every channel's fragments (a marker in the event log). */
export function phase3PlanComplete(store: SessionStore, sessionId: string): boolean {
  return store
    .latestEvents(sessionId, PLAN_COMPLETE.type, 1)
    .some((e) => e.subtype === PLAN_COMPLETE.subtype);
}

/** The stimulus ids of each part so far: every stored "fragments" artifact's, in artifact order. */
export function phase3PartIds(store: SessionStore, sessionId: string): string[][] {
  // FragmentsArtifactMeta.stimuli (steps/fragment.ts, which imports this module's event names)
  return store.artifacts(sessionId, "fragments").map((a) => (a.meta as { stimuli: string[] }).stimuli);
}

/** Resolves at the next event of the session that may change the plan; rejects when the signal fires. */
function nextPlanEvent(store: SessionStore, sessionId: string, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new AbortedError("stopped"));
    const relevant = (e: EventRecord) =>
      e.session_id === sessionId &&
      ((e.type === FRAGMENTS_READY.type && e.subtype === FRAGMENTS_READY.subtype) ||
        (e.type === PLAN_COMPLETE.type && e.subtype === PLAN_COMPLETE.subtype));
    const off = store.onEvent((e) => {
      if (!relevant(e)) return;
      finish();
      resolve();
    });
    const onAbort = () => {
      finish();
      reject(new AbortedError("stopped"));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    function finish() {
      off();
      signal.removeEventListener("abort", onAbort);
    }
  });
}

export function phase3Parts(ctx: StepContext): PhaseParts {
  const { store, sessionId, log } = ctx;
  // known() runs at every presentation: the artifacts are read again only after a newer "fragments" event.
  let cache: { eventId: number; stimuli: number } | null = null;
  return {
    known() {
      const eventId = store.latestEvents(sessionId, FRAGMENTS_READY.type, 1)[0]?.id ?? 0;
      if (cache?.eventId !== eventId)
        cache = { eventId, stimuli: phase3PartIds(store, sessionId).reduce((n, ids) => n + ids.length, 0) };
      return { stimuli: cache.stimuli, complete: phase3PlanComplete(store, sessionId) };
    },
    async part(k, signal) {
      let waitedSince = 0;
      for (;;) {
        // Read and decided in one synchronous turn: an event appended after this check wakes the wait below.
        const parts = phase3PartIds(store, sessionId);
        if (parts.length > k) {
          if (waitedSince) {
            const s = ((Date.now() - waitedSince) / 1000).toFixed(1);
            store.appendEvent(sessionId, PRESENTER.type, PRESENTER.partReady, {
              part: k,
              waitedS: Number(s),
            });
            log.info(`phase 3: channel ${k + 1}'s fragments ready after ${s} s; presenting them`);
          }
          const codes = eventCodes(store.stimuli(sessionId));
          return parts[k].map((id): PhaseStimulus => ({ id, eventCode: codes.get(id)! }));
        }
        if (phase3PlanComplete(store, sessionId)) return null;
        if (!waitedSince) {
          waitedSince = Date.now();
          store.appendEvent(sessionId, PRESENTER.type, PRESENTER.waiting, { part: k });
          log.info(
            k === 0
              ? "phase 3: waiting for the first channel's fragments (maps, cuts, features)"
              : `phase 3: ${k} channel(s) presented; waiting for the next channel's fragments`,
          );
        }
        await nextPlanEvent(store, sessionId, signal);
      }
    },
  };
}
