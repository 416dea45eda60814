// The recording day as data: an xstate v5 machine that says what every state does. Each state invokes one actor;
// the actors are real work, built from the daemon's world by createDayActors (actors.ts) and named here in setup,
// so this file is the whole answer to "what happens in <state>?":
//
//   preparing     prepare      hash every stimulus of the protocol into the session, compute their backbone
//                              features into the cache (steps/prepare.ts)
//   phase1        runPhase     present the phase-1 images, fixation-contingent, in pseudorandom blocks; spike data
//                              arrive on /acquisition meanwhile (phase.ts, scheduler/phase-runner.ts)
//                 .running ⇄ .paused   PAUSE (the operator, or watchRig when the rig box is lost) / RESUME
//   fitting       fit          every channel's Gaussian readout on the phase-1 responses (steps/fit.ts)
//   selecting     select       each channel's phase-2 images: top, bottom, most similar objects and control bodies,
//                              and the retest set (steps/select.ts)
//   synthesizing  synthesize   with selection.synthesized > 0, each channel's top synthesized images join phase 2
//                              (steps/synthesize.ts); nothing otherwise
//   phase2        runPhase     present the phase-2 images (as phase 1)
//   checking      check        stability, selectivity, responsiveness, split-half, Kruskal-Wallis per channel
//                              (steps/check.ts, docs/checks.md); then visualizing, or phase3 when the protocol has one
//   visualizing   visualize    shared-feature saliency of each channel that passed and whose model predicts
//                              objects (steps/visualize.ts)
//   phase3        explain      the same maps channel by channel and, as each channel's are stored, its pair cut along
//                              them into highlighted, complement and random fragments, hashed as stimuli, their
//                              features and the model's predictions stored (steps/explain.ts, steps/fragment.ts);
//                              runs for the whole state, paused or not, at a lower CPU priority
//                 runPhase     present each channel's fragments and their parent images (as phase 1) as soon as they
//                              are made, a part per channel (phase3-parts.ts); PHASE_DONE after the last part
//                 .running ⇄ .paused
//   testing       testFragments  per channel, highlighted vs random fragments and vs complement; across channels
//                              a signed-rank test (steps/test-fragments.ts)
//   reporting     report       the HTML report, channels.csv and the NWB file, for outcome "done" (steps/report.ts)
//   done                       final
//   failing       report       a step failed: the report of what the day got, outcome "failed" with the reason
//   failed                     final
//   aborting      report       ABORT (the operator, or a virtual-rig part that could not start): outcome "aborted"
//   aborted                    final
//
// watchRig runs for the whole day: it sends PAUSE with the reason when the rig box's link is lost. Actions only
// assign context; nothing here writes to the store (the daemon persists every snapshot, actors.ts does the work).
import { assign, type CallbackActorLogic, type PromiseActorLogic, setup } from "xstate";

export interface DayContext {
  sessionId: string;
  /** The protocol has a phase3 section: after checking, phase 3 makes each channel's maps and fragments and shows
   *  them, then the causal test; without one, visualizing. */
  phase3: boolean;
  /** Why the day is paused (operator, rig box lost); null while running. */
  pauseReason: string | null;
  failedReason: string | null;
  abortedBy: string | null;
}

export type DayEvent =
  | { type: "PAUSE"; reason?: string }
  | { type: "RESUME" }
  | { type: "ABORT"; by?: string }
  | { type: "PHASE_DONE" }
  | { type: "PHASE_FAILED"; reason: string };

export interface StepInput {
  sessionId: string;
}
export interface PhaseInput extends StepInput {
  phase: 1 | 2 | 3;
}
/** What the report is told about the day: how it ended, and why. */
export interface ReportInput extends StepInput {
  outcome: "done" | "failed" | "aborted";
  reason: string | null;
}

// A type, not an interface: xstate's setup wants an object type it can index.
export type DayActors = {
  prepare: PromiseActorLogic<void, StepInput>;
  runPhase: CallbackActorLogic<DayEvent, PhaseInput>;
  fit: PromiseActorLogic<void, StepInput>;
  select: PromiseActorLogic<void, StepInput>;
  synthesize: PromiseActorLogic<void, StepInput>;
  check: PromiseActorLogic<void, StepInput>;
  visualize: PromiseActorLogic<void, StepInput>;
  explain: PromiseActorLogic<void, StepInput>;
  testFragments: PromiseActorLogic<void, StepInput>;
  report: PromiseActorLogic<void, ReportInput>;
  watchRig: CallbackActorLogic<DayEvent, StepInput>;
};

const errorMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export function createDayMachine(actors: DayActors) {
  return setup({
    types: {
      context: {} as DayContext,
      events: {} as DayEvent,
      input: {} as { sessionId: string; phase3?: boolean },
    },
    actors,
    actions: {
      setPaused: assign({
        pauseReason: ({ event }) =>
          event.type === "PAUSE" ? (event.reason ?? "paused by the operator") : null,
      }),
      clearPaused: assign({ pauseReason: null }),
      setAborted: assign({
        abortedBy: ({ event }) => (event.type === "ABORT" ? (event.by ?? "operator") : null),
      }),
      /** onError of a step, or PHASE_FAILED: the reason, prefixed with the state it happened in. */
      setFailed: assign({
        failedReason: ({ event }, params: { step: string }) => {
          const e = event as unknown as { type: string; reason?: string; error?: unknown };
          return `${params.step}: ${e.type === "PHASE_FAILED" ? e.reason : errorMessage(e.error)}`;
        },
      }),
    },
  }).createMachine({
    id: "day",
    context: ({ input }) => ({
      sessionId: input.sessionId,
      phase3: input.phase3 ?? false,
      pauseReason: null,
      failedReason: null,
      abortedBy: null,
    }),
    initial: "preparing",
    invoke: { src: "watchRig", input: ({ context }) => ({ sessionId: context.sessionId }) },
    on: { ABORT: { target: ".aborting", actions: "setAborted" } },
    states: {
      preparing: step("prepare", "phase1", "preparing"),
      phase1: phase(1, "fitting"),
      fitting: step("fit", "selecting", "fitting"),
      selecting: step("select", "synthesizing", "selecting"),
      synthesizing: step("synthesize", "phase2", "synthesizing"),
      phase2: phase(2, "checking"),
      checking: {
        invoke: {
          src: "check",
          input: ({ context }) => ({ sessionId: context.sessionId }),
          onDone: [{ guard: ({ context }) => context.phase3, target: "phase3" }, { target: "visualizing" }],
          onError: { target: "failing", actions: { type: "setFailed", params: { step: "checking" } } },
        },
      },
      visualizing: step("visualize", "reporting", "visualizing"),
      phase3: {
        ...phase(3, "testing"),
        // Maps and fragments are made while the phase presents those already made, paused or not.
        invoke: {
          src: "explain",
          input: ({ context }) => ({ sessionId: context.sessionId }),
          onError: { target: "failing", actions: { type: "setFailed", params: { step: "explaining" } } },
        },
      },
      testing: step("testFragments", "reporting", "testing"),
      reporting: {
        invoke: {
          src: "report",
          input: ({ context }) => ({ sessionId: context.sessionId, outcome: "done" as const, reason: null }),
          onDone: "done",
          onError: { target: "failed", actions: { type: "setFailed", params: { step: "reporting" } } },
        },
      },
      done: { type: "final" },
      failing: {
        on: { ABORT: {} }, // the day has ended; its report is being written
        invoke: {
          src: "report",
          input: ({ context }) => ({
            sessionId: context.sessionId,
            outcome: "failed" as const,
            reason: context.failedReason,
          }),
          onDone: "failed",
          onError: "failed",
        },
      },
      failed: { type: "final" },
      aborting: {
        on: { ABORT: {} },
        invoke: {
          src: "report",
          input: ({ context }) => ({
            sessionId: context.sessionId,
            outcome: "aborted" as const,
            reason: context.abortedBy,
          }),
          onDone: "aborted",
          onError: "aborted",
        },
      },
      aborted: { type: "final" },
    },
  });
}

export type DayMachine = ReturnType<typeof createDayMachine>;

type StepSource = "prepare" | "fit" | "select" | "synthesize" | "check" | "visualize" | "testFragments";

function step(src: StepSource, next: string, name: string) {
  return {
    invoke: {
      src,
      input: ({ context }: { context: DayContext }) => ({ sessionId: context.sessionId }),
      onDone: `#day.${next}`,
      onError: { target: "#day.failing", actions: { type: "setFailed", params: { step: name } } },
    },
  } as const;
}

function phase(n: 1 | 2 | 3, next: string) {
  return {
    initial: "running",
    states: {
      running: {
        invoke: {
          src: "runPhase",
          input: ({ context }: { context: DayContext }) => ({ sessionId: context.sessionId, phase: n }),
        },
        on: {
          PAUSE: { target: "paused", actions: "setPaused" },
          PHASE_DONE: { target: `#day.${next}` },
          PHASE_FAILED: {
            target: "#day.failing",
            actions: { type: "setFailed", params: { step: `phase ${n}` } },
          },
        },
      },
      paused: {
        on: { RESUME: { target: "running", actions: "clearPaused" } },
      },
    },
  } as const;
}

/** A flat name for a snapshot's state value: "phase1.paused", "fitting", "done". */
export function stateName(value: unknown): string {
  if (typeof value === "string") return value;
  if (value && typeof value === "object") {
    const [k, v] = Object.entries(value)[0];
    return `${k}.${stateName(v)}`;
  }
  return String(value);
}

/** The states where the day has ended (its report may still be written in failing/aborting). */
export const FINAL_STATES = ["done", "failed", "aborted"] as const;
