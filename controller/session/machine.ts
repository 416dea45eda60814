// The recording day as data: an xstate v5 machine whose side effects are actors supplied by the daemon.
// preparing → phase1 → fitting → selecting → phase2 → checking → visualizing → reporting → done,
// with pause/resume in the phases, abort from anywhere, and a failed state that keeps its reason.
import { assign, fromCallback, fromPromise, setup } from "xstate";

export interface DayContext {
  sessionId: string;
  /** Why the day is paused (operator, rig box lost, acquisition lost); null while running. */
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

export interface PhaseInput {
  sessionId: string;
  phase: 1 | 2;
}
export interface StepInput {
  sessionId: string;
}

/** The states whose work the daemon provides; a state without an implementation fails with this message. */
export const dayStates = [
  "preparing",
  "phase1",
  "fitting",
  "selecting",
  "phase2",
  "checking",
  "visualizing",
  "reporting",
] as const;
export type DayStep = Exclude<(typeof dayStates)[number], "phase1" | "phase2">;

export class NotBuiltError extends Error {
  readonly code = "EPHYS_NOT_BUILT";
}

const notBuilt = (what: string) =>
  fromPromise<void, StepInput>(async () => {
    throw new NotBuiltError(`the ${what} step is not built yet`);
  });

/** A phase runs as a callback actor: it presents trials, and sends PHASE_DONE, PHASE_FAILED or PAUSE. */
const phaseNotBuilt = fromCallback<DayEvent, PhaseInput>(({ sendBack, input }) => {
  sendBack({ type: "PHASE_FAILED", reason: `phase ${input.phase} presentation is not built yet` });
});

const errorMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export const dayMachine = setup({
  types: {
    context: {} as DayContext,
    events: {} as DayEvent,
    input: {} as { sessionId: string },
  },
  actors: {
    prepare: notBuilt("preparing"),
    runPhase: phaseNotBuilt,
    fit: notBuilt("fitting"),
    select: notBuilt("selecting"),
    check: notBuilt("checking"),
    visualize: notBuilt("visualizing"),
    report: notBuilt("reporting"),
  },
  actions: {
    setPaused: assign({
      pauseReason: ({ event }) =>
        event.type === "PAUSE" ? (event.reason ?? "paused by the operator") : null,
    }),
    clearPaused: assign({ pauseReason: null }),
    setAborted: assign({
      abortedBy: ({ event }) => (event.type === "ABORT" ? (event.by ?? "operator") : null),
    }),
    /** onError of a step: the actor's error, prefixed with the state it happened in. */
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
    pauseReason: null,
    failedReason: null,
    abortedBy: null,
  }),
  initial: "preparing",
  on: { ABORT: { target: ".aborted", actions: "setAborted" } },
  states: {
    preparing: {
      invoke: {
        src: "prepare",
        input: ({ context }) => ({ sessionId: context.sessionId }),
        onDone: "phase1",
        onError: { target: "failed", actions: { type: "setFailed", params: { step: "preparing" } } },
      },
    },
    phase1: phaseStates(1, "fitting"),
    fitting: step("fit", "selecting", "fitting"),
    selecting: step("select", "phase2", "selecting"),
    phase2: phaseStates(2, "checking"),
    checking: step("check", "visualizing", "checking"),
    visualizing: step("visualize", "reporting", "visualizing"),
    reporting: step("report", "done", "reporting"),
    done: { type: "final" },
    failed: { type: "final" },
    aborted: { type: "final" },
  },
});

function step(src: "fit" | "select" | "check" | "visualize" | "report", next: string, name: string) {
  return {
    invoke: {
      src,
      input: ({ context }: { context: DayContext }) => ({ sessionId: context.sessionId }),
      onDone: `#day.${next}`,
      onError: { target: "#day.failed", actions: { type: "setFailed", params: { step: name } } },
    },
  } as const;
}

function phaseStates(phase: 1 | 2, next: string) {
  return {
    initial: "running",
    states: {
      running: {
        invoke: {
          src: "runPhase",
          input: ({ context }: { context: DayContext }) => ({ sessionId: context.sessionId, phase }),
        },
        on: {
          PAUSE: { target: "paused", actions: "setPaused" },
          PHASE_DONE: { target: `#day.${next}` },
          PHASE_FAILED: {
            target: "#day.failed",
            actions: { type: "setFailed", params: { step: `phase ${phase}` } },
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
