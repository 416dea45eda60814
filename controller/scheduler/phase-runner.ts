// One phase of presentations: fixation-contingent sequences of stimuli in pseudorandom blocks; a fixation break
// voids the current presentation and re-queues its stimulus in the same block; a reward after each completed
// sequence. Every presentation is stored as pending before it is announced, then settled as shown or voided.
// A presentation the display never reports (show timeout) is voided and re-queued the same way, with a warning
// record; only a run of maxDisplayTimeouts of them in a row fails the phase. A display that goes away (the page
// closed, the network dropped) voids the presentation on screen; the phase waits for a display to come back,
// preloads the phase's stimuli on it again, and goes on.
//
// The plan comes in parts (PhaseParts): phases 1 and 2 are one part known at the start; phase 3's plan grows while
// it runs, a part per channel once its fragments are made (controller/day/phase3-parts.ts). Each part is presented
// in its own `repetitions` blocks (numbered on from the previous part's), its stimuli preloaded when it is known;
// when the next part is not made yet, the runner waits (the display stays grey), and the phase ends when the source
// says there is no further part. After a restart every part's remaining presentations follow from the store.
import { EphysError } from "../../analysis/errors.ts";
import type { Protocol } from "../../protocols/index.ts";
import type { SessionStore } from "../store/store.ts";
import { BlockQueue, planBlocks, remainingBlocks } from "./blocks.ts";
import type { AnnouncePort, BoxPort, DisplayPort } from "./rig-ports.ts";

export interface PhaseStimulus {
  id: string;
  eventCode: number;
}

/** The phase's plan, part by part. */
export interface PhaseParts {
  /** Part k's stimuli once they are known (waiting until then); null when the phase has no part k: its plan is
   *  complete. Parts are fixed once given (a restart gets the same part k). Rejects when the signal fires. */
  part(k: number, signal: AbortSignal): Promise<PhaseStimulus[] | null>;
  /** What is known now, without waiting: the stimuli of every part made so far (counted once per part) and whether
   *  more may come — for the progress (planned presentations; the dashboard's "+" and ETA). */
  known(): { stimuli: number; complete: boolean };
}

/** A plan known at the start: one part (phases 1 and 2). */
export function singlePart(stimuli: PhaseStimulus[]): PhaseParts {
  return {
    part: async (k) => (k === 0 ? stimuli : null),
    known: () => ({ stimuli: stimuli.length, complete: true }),
  };
}

export interface PhaseProgress {
  phase: 1 | 2 | 3;
  shown: number;
  /** Presentations planned so far (repetitions × the stimuli of the parts made so far). */
  planned: number;
  voided: number;
  /** False while further parts may come (phase 3 while fragments are being made). */
  complete: boolean;
}

export interface PhaseRunOptions {
  store: SessionStore;
  sessionId: string;
  phase: 1 | 2 | 3;
  protocol: Protocol;
  /** The phase's stimuli with their event codes, part by part. */
  parts: PhaseParts;
  box: BoxPort;
  /** Resolves to the display once one is connected, with these stimuli preloaded (more are added part by part). */
  display: (stimulusIds: string[]) => Promise<DisplayPort>;
  acquisition: AnnouncePort;
  /** Multiplies every protocol duration (1 = real time; the simulated demo runs faster). */
  timeScale: number;
  signal: AbortSignal;
  /** How long to wait for the last trials' spike data at the end of the phase. */
  dataTimeoutMs?: number;
  /** Consecutive display timeouts that fail the phase (default 5); fewer only void their presentations. */
  maxDisplayTimeouts?: number;
  onProgress?: (p: PhaseProgress) => void;
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
  store.voidPendingTrials(sessionId, "interrupted (paused or restarted)");
  const before = store.trials(sessionId, phase);
  const shownBefore = before.filter((t) => t.status === "shown");
  const codes = new Map<string, number>();
  let shown = shownBefore.length;
  let voided = before.filter((t) => t.status === "voided").length;
  let ended = false; // the source said there is no further part
  const progress = () => {
    if (!o.onProgress) return;
    const known = o.parts.known();
    const planned = reps * known.stimuli;
    o.onProgress({ phase, shown, planned, voided, complete: ended || known.complete });
  };
  const scale = (ms: number) => ms * o.timeScale;

  const maxTimeouts = o.maxDisplayTimeouts ?? 5;
  let timeouts: Array<{ trialId: number; stimulusId: string; message: string }> = []; // the current run of them
  let breaks = 0; // fixation breaks seen so far; a presentation is void if this changes while it is on
  const unsubscribe = box.onFixation((fix) => {
    if (!fix) breaks++;
  });
  /** The display, once one is connected and has these stimuli; one lost meanwhile is waited for again. */
  const connectDisplay = async (ids: string[]): Promise<DisplayPort> => {
    for (;;) {
      try {
        return await abortable(o.display(ids), signal);
      } catch (e) {
        if ((e as { code?: unknown }).code !== "EPHYS_DISPLAY_LOST") throw e;
      }
    }
  };
  try {
    let display: DisplayPort | null = null;
    progress();
    for (let k = 0; ; k++) {
      const part = await abortable(o.parts.part(k, signal), signal);
      if (part === null) break;
      const ids = part.map((s) => s.id);
      for (const s of part) codes.set(s.id, s.eventCode);
      const firstBlock = k * reps;
      const queue = new BlockQueue(
        remainingBlocks(planBlocks(ids, reps, protocol.seed, phase, firstBlock), shownBefore, firstBlock),
        protocol.seed + phase * 7919 + before.length + k,
        firstBlock,
      );
      progress();
      if (queue.remaining === 0) continue; // shown before a restart (or an empty part)
      // The part's stimuli on the display (every stimulus of the phase so far when one has to be connected).
      display = await connectDisplay(display ? ids : [...codes.keys()]);
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
              progress();
              display = await connectDisplay([...codes.keys()]);
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
            progress();
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
            progress();
            break;
          }
          store.settleTrial(sessionId, trialId, { status: "shown", ...timing(report), ...measured });
          shown++;
          progress();
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
    }
    ended = true;
    progress();
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
