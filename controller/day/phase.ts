// phase1 / phase2 / phase3: the phase's stimuli (phase 1: the preferred set; phase 2: every stimulus selected for any
// channel, both one part known at the start; phase 3: each channel's fragments and their parents, a part per channel
// as the explain step makes them, phase3-parts.ts), each with its event code, presented by the scheduler
// (scheduler/phase-runner.ts) on the rig:
// the box (fixation, event codes, rewards), the display (waited for and preloaded) and the acquisition hub
// (announcements, the end-of-phase wait for data). A callback actor: PHASE_DONE or PHASE_FAILED; stopping it (a
// pause, an abort) voids the presentation on screen, so its stimulus is shown again later.
import { fromCallback } from "xstate";
import { AbortedError, runPhase, singlePart } from "../scheduler/phase-runner.ts";
import type { AnnouncePort, BoxPort, DisplayPort } from "../scheduler/rig-ports.ts";
import type { StepContext } from "./context.ts";
import type { DayEvent, PhaseInput } from "./machine.ts";
import { phase3Parts } from "./phase3-parts.ts";
import { phase3Stimuli } from "./steps/fragment.ts";
import { eventCodes, prepareStimuli } from "./steps/prepare.ts";

export interface PhaseRig {
  box: BoxPort;
  /** The display once one is connected, with these stimuli preloaded. */
  display(stimulusIds: string[]): Promise<DisplayPort>;
  acquisition: AnnouncePort;
  /** Multiplies every protocol duration (1 = real time; the simulated day runs faster). */
  timeScale: number;
  dataTimeoutMs?: number;
  /** True while the daemon shuts down: the pending presentation stays for the restarted daemon to void. */
  stopping(): boolean;
}

/** The phase's stimuli with their event codes (phase 3: those of the fragments made so far). */
export async function phaseStimuli(
  ctx: StepContext,
  phase: 1 | 2 | 3,
): Promise<Array<{ id: string; eventCode: number }>> {
  const stimuli = await prepareStimuli(ctx.store, ctx.sessionId, ctx.loaded.path);
  const codes = eventCodes(stimuli);
  const ids =
    phase === 1
      ? stimuli.filter((s) => s.role === "preferred").map((s) => s.id)
      : phase === 2
        ? [...new Set(ctx.store.selections(ctx.sessionId).map((s) => s.stimulusId))]
        : phase3Stimuli(ctx);
  // Phase 3 may have nothing to show (no channel had maps); the fragment step has said why.
  if (ids.length === 0 && phase !== 3) throw new Error(`phase ${phase} has no stimuli`);
  return ids.map((id) => ({ id, eventCode: codes.get(id)! }));
}

export function phaseActor(ctx: StepContext, rig: PhaseRig) {
  return fromCallback<DayEvent, PhaseInput>(({ sendBack, input }) => {
    const controller = new AbortController();
    const signal = controller.signal;
    ctx.forgetRates(input.phase); // its data are about to change
    (async () => {
      await runPhase({
        store: ctx.store,
        sessionId: ctx.sessionId,
        phase: input.phase,
        protocol: ctx.loaded.protocol,
        parts: input.phase === 3 ? phase3Parts(ctx) : singlePart(await phaseStimuli(ctx, input.phase)),
        box: rig.box,
        display: (ids) => rig.display(ids),
        acquisition: rig.acquisition,
        timeScale: rig.timeScale,
        signal,
        dataTimeoutMs: rig.dataTimeoutMs,
        maxDisplayTimeouts: ctx.config.rig.maxConsecutiveDisplayTimeouts,
        onProgress: (p) => ctx.store.appendEvent(ctx.sessionId, "progress", `phase${p.phase}`, p),
      });
    })().then(
      () => sendBack({ type: "PHASE_DONE" }),
      (e: unknown) => {
        if (e instanceof AbortedError || signal.aborted) return;
        sendBack({ type: "PHASE_FAILED", reason: (e as Error).message });
      },
    );
    return () => {
      controller.abort();
      if (!rig.stopping()) ctx.store.voidPendingTrials(ctx.sessionId, "interrupted (paused or stopped)");
    };
  });
}
