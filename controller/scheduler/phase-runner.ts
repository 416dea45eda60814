// One phase of presentations: fixation-contingent sequences of stimuli in pseudorandom blocks; a fixation break
// voids the current presentation and re-queues its stimulus in the same block; a reward after each completed
// sequence. Every presentation is stored as pending before it is announced, then settled as shown or voided.
// A presentation the display never reports (show timeout) is voided and re-queued the same way, with a warning
// record; only a run of maxDisplayTimeouts of them in a row fails the phase. A display that goes away (the page
// closed, the network dropped) voids the presentation on screen; the phase waits for a display to come back,
// preloads the phase's stimuli on it again, and goes on.
import { EphysError } from "../../analysis/errors.ts";
import type { Protocol } from "../../protocols/index.ts";
import type { SessionStore } from "../store/store.ts";
import { BlockQueue, planBlocks, remainingBlocks } from "./blocks.ts";
import type { AnnouncePort, BoxPort, DisplayPort } from "./rig-ports.ts";

export interface PhaseRunOptions {
  store: SessionStore;
  sessionId: string;
  phase: 1 | 2 | 3;
  protocol: Protocol;
  /** The phase's stimuli, each with its event code. */
  stimuli: Array<{ id: string; eventCode: number }>;
  box: BoxPort;
  /** Resolves to the display once one is connected. */
  display: () => Promise<DisplayPort>;
  acquisition: AnnouncePort;
  /** Multiplies every protocol duration (1 = real time; the simulated demo runs faster). */
  timeScale: number;
  signal: AbortSignal;
  /** How long to wait for the last trials' spike data at the end of the phase. */
  dataTimeoutMs?: number;
  /** Consecutive display timeouts that fail the phase (default 5); fewer only void their presentations. */
  maxDisplayTimeouts?: number;
  onProgress?: (p: { phase: 1 | 2 | 3; shown: number; planned: number; voided: number }) => void;
}

export class AbortedError extends EphysError<"EPHYS_ABORTED"> {
  constructor(message: string) {
    super("EPHYS_ABORTED", message);
  }
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(new AbortedError("stopped"));
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new AbortedError("stopped"));
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });

export async function runPhase(
  o: PhaseRunOptions,
): Promise<{ shown: number; voided: number; missingData: number[] }> {
  const { store, sessionId, phase, protocol, box, signal } = o;
  const pres = protocol.presentation;
  const reps =
    phase === 1
      ? pres.repetitions
      : phase === 2
        ? protocol.phase2.repetitions
        : (protocol.phase3?.repetitions ?? protocol.phase2.repetitions);
  const codes = new Map(o.stimuli.map((s) => [s.id, s.eventCode]));
  const blocks = planBlocks(
    o.stimuli.map((s) => s.id),
    reps,
    protocol.seed,
    phase,
  );
  store.voidPendingTrials(sessionId, "interrupted (paused or restarted)");
  const before = store.trials(sessionId, phase);
  const shownBefore = before.filter((t) => t.status === "shown");
  const queue = new BlockQueue(
    remainingBlocks(blocks, shownBefore),
    protocol.seed + phase * 7919 + before.length,
  );
  const planned = reps * o.stimuli.length;
  let shown = shownBefore.length;
  let voided = before.filter((t) => t.status === "voided").length;
  const scale = (ms: number) => ms * o.timeScale;

  const maxTimeouts = o.maxDisplayTimeouts ?? 5;
  let timeouts: Array<{ trialId: number; stimulusId: string; message: string }> = []; // the current run of them
  let breaks = 0; // fixation breaks seen so far; a presentation is void if this changes while it is on
  const unsubscribe = box.onFixation((fix) => {
    if (!fix) breaks++;
  });
  /** The display, once one is connected and has the phase's stimuli; one lost meanwhile is waited for again. */
  const connectDisplay = async (): Promise<DisplayPort> => {
    for (;;) {
      try {
        return await abortable(o.display(), signal);
      } catch (e) {
        if ((e as { code?: unknown }).code !== "EPHYS_DISPLAY_LOST") throw e;
      }
    }
  };
  try {
    let display = await connectDisplay();
    o.onProgress?.({ phase, shown, planned, voided });
    while (queue.remaining > 0) {
      await acquireFixation(box, scale(pres.fixationAcquireMs), signal);
      let completed = true;
      for (let i = 0; i < pres.stimuliPerFixation && queue.remaining > 0; i++) {
        const p = queue.next()!;
        const eventCode = codes.get(p.stimulusId)!;
        const trialId = store.nextTrialId(sessionId);
        store.recordTrial(sessionId, {
          trialId,
          phase,
          block: p.block,
          stimulusId: p.stimulusId,
          eventCode,
          status: "pending",
        });
        const breaksAtOnset = breaks;
        o.acquisition.announce({ trialId, eventCode, stimulusId: p.stimulusId });
        await box.sendEvent(eventCode);
        let report: Awaited<ReturnType<DisplayPort["show"]>>;
        try {
          report = await display.show(trialId, p.stimulusId, scale(pres.stimulusMs));
        } catch (e) {
          if ((e as { code?: unknown }).code === "EPHYS_DISPLAY_LOST") {
            store.settleTrial(sessionId, trialId, { status: "voided", reason: "display lost" });
            store.appendEvent(sessionId, "display", "lost", {
              trialId,
              stimulusId: p.stimulusId,
              message: (e as Error).message,
            });
            queue.requeue(p);
            voided++;
            completed = false;
            o.onProgress?.({ phase, shown, planned, voided });
            display = await connectDisplay();
            break;
          }
          if ((e as { code?: unknown }).code !== "EPHYS_DISPLAY_TIMEOUT") throw e;
          // The display never reported this presentation: void it and show its stimulus again later, as after a
          // fixation break; the sequence ends without a reward.
          display.clear?.();
          timeouts.push({ trialId, stimulusId: p.stimulusId, message: (e as Error).message });
          store.settleTrial(sessionId, trialId, { status: "voided", reason: "display timeout" });
          store.appendEvent(sessionId, "display", "timeout", {
            trialId,
            stimulusId: p.stimulusId,
            consecutive: timeouts.length,
            limit: maxTimeouts,
            message: (e as Error).message,
          });
          queue.requeue(p);
          voided++;
          completed = false;
          o.onProgress?.({ phase, shown, planned, voided });
          if (timeouts.length >= maxTimeouts)
            throw Object.assign(
              new Error(
                `the display did not report ${timeouts.length} presentations in a row (trials ` +
                  `${timeouts.map((t) => t.trialId).join(", ")}; limit rig.maxConsecutiveDisplayTimeouts = ` +
                  `${maxTimeouts}); last: ${timeouts.at(-1)!.message}`,
              ),
              { code: "EPHYS_DISPLAY_TIMEOUT" },
            );
          break;
        }
        timeouts = [];
        const broke = breaks !== breaksAtOnset || !box.fixating; // decided at the report, before measuring
        // The photodiode's onset and offset (stored beside the display's) and the eye, when the box measures them.
        const measured = (await box.measure?.(report.onset, report.offset)) ?? {};
        if (broke) {
          store.settleTrial(sessionId, trialId, {
            status: "voided",
            reason: "fixation break",
            ...timing(report),
            ...measured,
          });
          queue.requeue(p);
          voided++;
          completed = false;
          o.onProgress?.({ phase, shown, planned, voided });
          break;
        }
        store.settleTrial(sessionId, trialId, { status: "shown", ...timing(report), ...measured });
        shown++;
        o.onProgress?.({ phase, shown, planned, voided });
        const breaksBeforeIsi = breaks;
        await sleep(scale(pres.isiMs), signal);
        if (breaks !== breaksBeforeIsi) {
          completed = false; // the sequence ends; the presentation before the break stays valid
          break;
        }
      }
      if (completed) {
        await box.reward(pres.rewardMs);
        store.appendEvent(sessionId, "rig", "reward", { ms: pres.rewardMs });
      }
      await sleep(scale(pres.interSequenceMs), signal);
    }
    const ids = store
      .trials(sessionId, phase)
      .filter((t) => t.status === "shown")
      .map((t) => t.trialId);
    const missingData = await o.acquisition.waitForData(ids, o.dataTimeoutMs ?? 30_000, signal);
    if (missingData.length)
      store.appendEvent(sessionId, "acquisition", "missing-data", {
        phase,
        trials: missingData.slice(0, 100),
        count: missingData.length,
      });
    return { shown, voided, missingData };
  } finally {
    unsubscribe();
  }
}

/** p, or an AbortedError as soon as the signal fires (a paused phase must not go on when a display turns up). */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new AbortedError("stopped"));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortedError("stopped"));
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

function timing(r: { onset: number; offset: number; droppedFrames: number }) {
  return { onsetMs: r.onset, offsetMs: r.offset, droppedFrames: r.droppedFrames };
}

async function acquireFixation(box: BoxPort, timeoutMs: number, signal: AbortSignal): Promise<void> {
  for (;;) {
    // Checked every round: a listener added to an already aborted signal never fires, and this loop would go on
    // presenting after a pause (it did, when a pause came while the display preloaded).
    if (signal.aborted) throw new AbortedError("stopped");
    if (box.fixating) return;
    const got = await new Promise<boolean>((resolve, reject) => {
      const t = setTimeout(() => finish(false), Math.max(1, timeoutMs));
      const off = box.onFixation((f) => f && finish(true));
      const onAbort = () => {
        clearTimeout(t);
        off();
        reject(new AbortedError("stopped"));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      function finish(v: boolean) {
        clearTimeout(t);
        off();
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      }
    });
    if (got) return;
  }
}
