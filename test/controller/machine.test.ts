// The day machine (controller/day/machine.ts) with stand-in actors that finish when the test says: every state in
// order, pause and resume, the rig watcher's PAUSE, failures and aborts with their report, and a persisted snapshot
// of every state restored into a fresh actor that carries on. No sleeping: each wait is on a state or an actor start.
import { describe, expect, it } from "vitest";
import { type Actor, createActor, fromCallback, fromPromise, waitFor } from "xstate";
import {
  createDayMachine,
  type DayActors,
  type DayEvent,
  type DayMachine,
  type PhaseInput,
  type ReportInput,
  type StepInput,
  stateName,
} from "../../controller/day/machine.ts";

/** One run of a step: the test may settle it before or after the step starts; then it is used up. */
interface Gate {
  promise: Promise<void>;
  resolve: () => void;
  reject: (e: Error) => void;
  taken: boolean;
  settled: boolean;
}

/** Stand-in actors: a step's promise settles when the test opens its gate (before or after it starts). */
function standIns() {
  const gates = new Map<string, Gate>();
  const gate = (name: string): Gate => {
    let g = gates.get(name);
    if (!g) {
      let resolve!: () => void;
      let reject!: (e: Error) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      g = { promise, resolve, reject, taken: false, settled: false };
      gates.set(name, g);
    }
    return g;
  };
  /** The step started (taken) or the test settled it (settled): whichever comes second uses the gate up. */
  const use = (name: string, how: "taken" | "settled"): Gate => {
    const g = gate(name);
    g[how] = true;
    if (g.taken && g.settled) gates.delete(name);
    return g;
  };
  const started: string[] = [];
  const reports: ReportInput[] = [];
  const phases = new Map<number, (e: DayEvent) => void>();
  let rig: ((e: DayEvent) => void) | null = null;
  const step = (name: string) =>
    fromPromise<void, StepInput>(() => {
      started.push(name);
      return use(name, "taken").promise;
    });
  const actors: DayActors = {
    prepare: step("prepare"),
    fit: step("fit"),
    select: step("select"),
    synthesize: step("synthesize"),
    check: step("check"),
    visualize: step("visualize"),
    explain: step("explain"),
    testFragments: step("testFragments"),
    report: fromPromise<void, ReportInput>(({ input }) => {
      started.push(`report:${input.outcome}`);
      reports.push(input);
      return Promise.resolve();
    }),
    runPhase: fromCallback<DayEvent, PhaseInput>(({ sendBack, input }) => {
      started.push(`phase${input.phase}`);
      phases.set(input.phase, sendBack);
      return () => phases.delete(input.phase);
    }),
    watchRig: fromCallback<DayEvent, StepInput>(({ sendBack }) => {
      rig = sendBack;
      return () => {
        rig = null;
      };
    }),
  };
  return {
    machine: createDayMachine(actors),
    started,
    reports,
    finish: (name: string) => use(name, "settled").resolve(),
    failStep: (name: string, message: string) => use(name, "settled").reject(new Error(message)),
    phase: (n: 1 | 2 | 3) => phases.get(n),
    rigSends: (e: DayEvent) => rig!(e),
  };
}

type DayActor = Actor<DayMachine>;
const at = (actor: DayActor) => stateName(actor.getSnapshot().value);
const reach = (actor: DayActor, name: string) => waitFor(actor, (s) => stateName(s.value) === name);

/** Drives a started actor from `from` one state further (what the state's actor would do to end it). */
async function advance(actor: DayActor, s: ReturnType<typeof standIns>): Promise<void> {
  const name = at(actor);
  const stepOf: Record<string, string> = {
    preparing: "prepare",
    fitting: "fit",
    selecting: "select",
    synthesizing: "synthesize",
    checking: "check",
    visualizing: "visualize",
    testing: "testFragments",
  };
  if (stepOf[name]) s.finish(stepOf[name]);
  else if (/^phase[123]\.running$/.test(name)) {
    const n = Number(name[5]) as 1 | 2 | 3;
    await waitFor(actor, () => s.phase(n) !== undefined);
    s.phase(n)!({ type: "PHASE_DONE" });
  } else if (name.endsWith(".paused")) actor.send({ type: "RESUME" });
  await waitFor(actor, (snap) => stateName(snap.value) !== name);
}

const ORDER = [
  "preparing",
  "phase1.running",
  "fitting",
  "selecting",
  "synthesizing",
  "phase2.running",
  "checking",
  "visualizing",
  "done",
];

describe("the day machine", () => {
  it("walks through every state to done, and the report is told the outcome", async () => {
    const s = standIns();
    const actor = createActor(s.machine, { input: { sessionId: "s" } }).start();
    const seen = [at(actor)];
    while (actor.getSnapshot().status === "active") {
      await advance(actor, s);
      seen.push(at(actor));
    }
    expect(seen).toEqual(ORDER);
    expect(s.started).toEqual([
      "prepare",
      "phase1",
      "fit",
      "select",
      "synthesize",
      "phase2",
      "check",
      "visualize",
      "report:done",
    ]);
    expect(s.reports).toEqual([{ sessionId: "s", outcome: "done", reason: null }]);
  });

  it("with phase 3 goes from checking to phase 3, which makes the fragments while it presents, then the causal test", async () => {
    const s = standIns();
    const actor = createActor(s.machine, { input: { sessionId: "s", phase3: true } }).start();
    const seen = [at(actor)];
    while (actor.getSnapshot().status === "active") {
      await advance(actor, s);
      seen.push(at(actor));
    }
    expect(seen).toEqual([...ORDER.slice(0, -2), "phase3.running", "testing", "done"]);
    // No visualizing state: the explain step makes the maps (and the fragments) during phase 3.
    expect(s.started.slice(-5)).toEqual(["check", "explain", "phase3", "testFragments", "report:done"]);
  });

  it("phase 3's explain step runs on through a pause, and its failure fails the day naming it", async () => {
    const s = standIns();
    const actor = createActor(s.machine, { input: { sessionId: "s", phase3: true } }).start();
    for (const name of ["prepare", "fit", "select", "synthesize", "check"]) s.finish(name);
    await reach(actor, "phase1.running");
    await advance(actor, s);
    await reach(actor, "phase2.running");
    await advance(actor, s);
    await reach(actor, "phase3.running");
    await waitFor(actor, () => s.phase(3) !== undefined);
    actor.send({ type: "PAUSE", reason: "operator" });
    expect(at(actor)).toBe("phase3.paused");
    actor.send({ type: "RESUME" });
    expect(at(actor)).toBe("phase3.running");
    // The presentation started twice, the explain step once: a pause does not stop the making of fragments.
    expect(s.started.filter((x) => x === "phase3")).toHaveLength(2);
    expect(s.started.filter((x) => x === "explain")).toHaveLength(1);
    s.failStep("explain", "the saliency worker exited with code 1");
    await waitFor(actor, (x) => x.status === "done");
    expect(at(actor)).toBe("failed");
    expect(s.reports).toEqual([
      { sessionId: "s", outcome: "failed", reason: "explaining: the saliency worker exited with code 1" },
    ]);
    expect(s.phase(3)).toBeUndefined(); // the presentation stopped with the state
  });

  it("a persisted phase-3 snapshot restores both the presentation and the explain step, which carry on", async () => {
    const s = standIns();
    const actor = createActor(s.machine, { input: { sessionId: "s", phase3: true } }).start();
    while (at(actor) !== "phase3.running") await advance(actor, s);
    const snapshot = JSON.parse(JSON.stringify(actor.getPersistedSnapshot()));
    const fresh = standIns();
    const restored = createActor(fresh.machine, {
      input: { sessionId: "s", phase3: true },
      snapshot,
    }).start();
    expect(at(restored)).toBe("phase3.running");
    await waitFor(restored, () => fresh.started.length === 2);
    expect([...fresh.started].sort()).toEqual(["explain", "phase3"]);
    fresh.finish("explain");
    while (restored.getSnapshot().status === "active") await advance(restored, fresh);
    expect(at(restored)).toBe("done");
  });

  it("pauses and resumes a phase (its actor stops and starts again) and keeps the reason", async () => {
    const s = standIns();
    const actor = createActor(s.machine, { input: { sessionId: "s" } }).start();
    s.finish("prepare");
    await reach(actor, "phase1.running");
    actor.send({ type: "PAUSE", reason: "operator" });
    expect(at(actor)).toBe("phase1.paused");
    expect(actor.getSnapshot().context.pauseReason).toBe("operator");
    expect(s.phase(1)).toBeUndefined(); // stopped
    actor.send({ type: "RESUME" });
    expect(at(actor)).toBe("phase1.running");
    expect(actor.getSnapshot().context.pauseReason).toBeNull();
    expect(s.started.filter((x) => x === "phase1")).toHaveLength(2);
    // PAUSE outside a phase changes nothing.
    s.phase(1)!({ type: "PHASE_DONE" });
    await reach(actor, "fitting");
    actor.send({ type: "PAUSE", reason: "too late" });
    expect(at(actor)).toBe("fitting");
  });

  it("pauses a phase when the rig watcher reports the box lost", async () => {
    const s = standIns();
    const actor = createActor(s.machine, { input: { sessionId: "s" } }).start();
    s.finish("prepare");
    await reach(actor, "phase1.running");
    s.rigSends({ type: "PAUSE", reason: "rig box /dev/ttyACM0 disconnected: device vanished" });
    expect(at(actor)).toBe("phase1.paused");
    expect(actor.getSnapshot().context.pauseReason).toMatch(/disconnected/);
  });

  it("fails with the step and its reason, writes the failed day's report, then ends failed", async () => {
    const s = standIns();
    const actor = createActor(s.machine, { input: { sessionId: "s" } }).start();
    s.finish("prepare");
    await reach(actor, "phase1.running");
    s.phase(1)!({ type: "PHASE_DONE" });
    s.failStep("fit", "no channel has phase-1 data");
    await waitFor(actor, (x) => x.status === "done");
    expect(at(actor)).toBe("failed");
    expect(actor.getSnapshot().context.failedReason).toBe("fitting: no channel has phase-1 data");
    expect(s.reports).toEqual([
      { sessionId: "s", outcome: "failed", reason: "fitting: no channel has phase-1 data" },
    ]);
  });

  it("a phase's failure names the phase", async () => {
    const s = standIns();
    const actor = createActor(s.machine, { input: { sessionId: "s" } }).start();
    s.finish("prepare");
    await reach(actor, "phase1.running");
    s.phase(1)!({ type: "PHASE_FAILED", reason: "display lost" });
    await waitFor(actor, (x) => x.status === "done");
    expect(s.reports.at(-1)).toMatchObject({ outcome: "failed", reason: "phase 1: display lost" });
  });

  it("aborts from any state with who did it, reports once, and ignores a second abort", async () => {
    const s = standIns();
    const actor = createActor(s.machine, { input: { sessionId: "s" } }).start();
    s.finish("prepare");
    await reach(actor, "phase1.running");
    actor.send({ type: "ABORT", by: "virtual rig: the display failed" });
    actor.send({ type: "ABORT", by: "operator" });
    await waitFor(actor, (x) => x.status === "done");
    expect(at(actor)).toBe("aborted");
    expect(s.reports).toEqual([
      { sessionId: "s", outcome: "aborted", reason: "virtual rig: the display failed" },
    ]);
    expect(s.phase(1)).toBeUndefined();
  });

  it("restores a persisted snapshot of every state into a fresh actor that runs that state's work and carries on", async () => {
    const s = standIns();
    const actor = createActor(s.machine, { input: { sessionId: "s" } }).start();
    const snapshots = new Map<string, unknown>();
    const record = () => snapshots.set(at(actor), JSON.parse(JSON.stringify(actor.getPersistedSnapshot())));
    record();
    while (actor.getSnapshot().status === "active") {
      if (at(actor) === "phase1.running") {
        await waitFor(actor, () => s.phase(1) !== undefined);
        actor.send({ type: "PAUSE", reason: "operator" });
        record(); // phase1.paused
        actor.send({ type: "RESUME" });
      }
      await advance(actor, s);
      record();
    }
    expect([...snapshots.keys()]).toEqual([...ORDER.slice(0, 2), "phase1.paused", ...ORDER.slice(2)]);
    for (const [name, snapshot] of snapshots) {
      const fresh = standIns();
      const restored = createActor(fresh.machine, {
        input: { sessionId: "s" },
        snapshot: snapshot as never,
      }).start();
      expect(at(restored), name).toBe(name);
      if (name === "done") {
        expect(restored.getSnapshot().status).toBe("done");
        continue;
      }
      // The restored state's actor runs again (paused: none until RESUME), and the day reaches done.
      const expectStarted: Record<string, string> = {
        preparing: "prepare",
        "phase1.running": "phase1",
        fitting: "fit",
        selecting: "select",
        synthesizing: "synthesize",
        "phase2.running": "phase2",
        checking: "check",
        visualizing: "visualize",
      };
      if (name === "phase1.paused") expect(fresh.started, name).toEqual([]);
      else await waitFor(restored, () => fresh.started[0] === expectStarted[name]);
      while (restored.getSnapshot().status === "active") await advance(restored, fresh);
      expect(at(restored), name).toBe("done");
      expect(fresh.reports, name).toEqual([{ sessionId: "s", outcome: "done", reason: null }]);
    }
  });
});
