// Phase 3's preparation, while phase 3 already runs (the day's phase3 state, controller/day/machine.ts): the
// visualize step's shared-feature maps, channel after channel (steps/visualize.ts), and as soon as a channel's maps
// are stored, its fragments (steps/fragment.ts: cut, hashed in as stimuli, their features, the model's predictions,
// the "fragments" artifact and the FRAGMENTS_READY event on which phase 3 presents them, phase3-parts.ts). The first
// channel is cut alone, then rounds that wait for 2, 4, then 8 channels (each round's features worker loads the
// backbone once) while the presentation works through the parts already made (one channel's part: a minute or more
// at the rig); when the presentation waits for its next part, the next round starts with what there is. When every channel is done,
// PLAN_COMPLETE: phase 3 ends after its last part. Both run in worker threads at PHASE3_NICE, below the daemon's own
// thread (trials, the rig box, spike data) and the display's browser.
//
// After a restart: channels with maps are not visualized again, channels with fragments are not cut again (their
// files and hashes would come out the same: every choice is seeded), and with PLAN_COMPLETE stored nothing is done.
import type { StepContext } from "../context.ts";
import { PLAN_COMPLETE, PRESENTER, phase3PlanComplete } from "../phase3-parts.ts";
import { type FragmentOutcome, fragmentStep } from "./fragment.ts";
import { type VisualizeOutcome, visualizeStep } from "./visualize.ts";

/** The nice value of phase 3's compute threads (maps, fragment features): the animal sees stimuli meanwhile. */
export const PHASE3_NICE = 10;
/** The most channels a round of fragments waits for while maps are still being made (it takes all that are there). */
export const MAX_ROUND = 8;

export interface ExplainOutcome {
  visualize: VisualizeOutcome;
  fragments: FragmentOutcome;
  /** Seconds from the start to the first channel's fragments stored (null: none this run). */
  firstReadyS: number | null;
}

export async function explainStep(ctx: StepContext, signal?: AbortSignal): Promise<ExplainOutcome> {
  const { store, sessionId, log } = ctx;
  const outcome: ExplainOutcome = {
    visualize: { done: [], skipped: [] },
    fragments: { done: [], skipped: [] },
    firstReadyS: null,
  };
  if (phase3PlanComplete(store, sessionId)) return outcome;
  const started = Date.now();
  const inner = new AbortController();
  const onAbort = () => inner.abort(signal?.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  if (signal?.aborted) inner.abort(signal.reason);
  let firstError: unknown = null;
  const fail = (e: unknown) => {
    firstError ??= e;
    inner.abort(e);
    throw e;
  };

  // Channels whose maps were stored before a restart, but not their fragments, are cut first.
  const cut = new Set(store.artifacts(sessionId, "fragments").map((a) => a.channelId));
  const queue = [
    ...new Set(
      store
        .artifacts(sessionId, "saliency")
        .map((a) => a.channelId)
        .filter((c): c is string => c !== null && !cut.has(c)),
    ),
  ];
  let visualizing = true;
  let wake: (() => void) | null = null;
  const poke = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  // The presentation waits for its next part (phase3-parts.ts appends "phase3/waiting"): cut what is there at once.
  const presenterWaiting = () =>
    store.latestEvents(sessionId, PRESENTER.type, 1)[0]?.subtype === PRESENTER.waiting;
  const offWaiting = store.onEvent((e) => {
    if (e.session_id === sessionId && e.type === PRESENTER.type && e.subtype === PRESENTER.waiting) poke();
  });
  let rounds = 0;
  const fragmenting = (async () => {
    for (;;) {
      // While maps are still coming, round r waits for at least 2^r channels (2^r at most MAX_ROUND) and takes all
      // that are there: the first channel goes out at once, later ones share a features worker's start (it loads
      // the backbone: ~3 s on 2 cores) — unless the presentation is waiting, which takes what there is.
      const wanted = visualizing && !presenterWaiting() ? Math.min(2 ** rounds, MAX_ROUND) : 1;
      if (queue.length >= wanted) {
        rounds++;
        const done = await fragmentStep(ctx, inner.signal, { channels: queue.splice(0), nice: PHASE3_NICE });
        if (done.done.length > 0 && outcome.firstReadyS === null)
          outcome.firstReadyS = (Date.now() - started) / 1000;
        outcome.fragments.done.push(...done.done);
        outcome.fragments.skipped.push(...done.skipped);
        continue;
      }
      if (!visualizing && queue.length === 0) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  })().catch(fail);
  const visualized = visualizeStep(ctx, inner.signal, {
    skipVisualized: true,
    nice: PHASE3_NICE,
    onChannel: (channelId) => {
      queue.push(channelId);
      poke();
    },
  })
    .catch(fail)
    .finally(() => {
      visualizing = false;
      poke();
    });
  try {
    const [v] = await Promise.allSettled([visualized, fragmenting]);
    if (firstError !== null) throw firstError;
    inner.signal.throwIfAborted(); // stopped: the plan is not complete, whatever finished
    if (v.status === "fulfilled") outcome.visualize = v.value;
  } finally {
    signal?.removeEventListener("abort", onAbort);
    offWaiting();
  }
  const channels = store.artifacts(sessionId, "fragments").length;
  const seconds = (Date.now() - started) / 1000;
  store.appendEvent(sessionId, PLAN_COMPLETE.type, PLAN_COMPLETE.subtype, {
    channels,
    seconds,
    firstReadyS: outcome.firstReadyS,
  });
  log.info(
    channels === 0
      ? "explain: no channel has fragments; phase 3 has nothing to show"
      : `explain: fragments of ${channels} channel(s) ready; ${outcome.visualize.done.length} visualized and ` +
          `${outcome.fragments.done.length} cut in ${seconds.toFixed(1)} s` +
          (outcome.firstReadyS !== null ? ` (the first after ${outcome.firstReadyS.toFixed(1)} s)` : ""),
  );
  return outcome;
}
