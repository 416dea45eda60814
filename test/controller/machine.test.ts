import { describe, expect, it } from "vitest";
import { createActor, fromCallback, fromPromise, waitFor } from "xstate";
import { type DayEvent, dayMachine, type PhaseInput, stateName } from "../../controller/session/machine.ts";

/** Steps that finish when the test says so, so every state can be observed. */
function controllable() {
  const gates = new Map<string, () => void>();
  const step = (name: string) =>
    fromPromise<void, { sessionId: string }>(
      () =>
        new Promise<void>((resolve) => {
          gates.set(name, resolve);
        }),
    );
  const phaseSenders = new Map<number, (e: DayEvent) => void>();
  const starts: number[] = [];
  const machine = dayMachine.provide({
    actors: {
      prepare: step("preparing"),
      fit: step("fitting"),
      select: step("selecting"),
      check: step("checking"),
      visualize: step("visualizing"),
      report: step("reporting"),
      runPhase: fromCallback<DayEvent, PhaseInput>(({ sendBack, input }) => {
        starts.push(input.phase);
        phaseSenders.set(input.phase, sendBack);
        return () => phaseSenders.delete(input.phase);
      }),
    },
  });
  const finish = async (name: string) => {
    for (let i = 0; i < 50 && !gates.has(name); i++) await new Promise((r) => setTimeout(r, 1));
    gates.get(name)!();
    gates.delete(name);
  };
  return { machine, finish, phaseSenders, starts };
}

const at = (actor: { getSnapshot(): { value: unknown } }) => stateName(actor.getSnapshot().value);

describe("the day machine", () => {
  it("walks through every state to done", async () => {
    const c = controllable();
    const actor = createActor(c.machine, { input: { sessionId: "s" } }).start();
    const seen: string[] = [];
    actor.subscribe((s) => {
      const n = stateName(s.value);
      if (seen.at(-1) !== n) seen.push(n);
    });
    await c.finish("preparing");
    await waitFor(actor, (s) => stateName(s.value) === "phase1.running");
    c.phaseSenders.get(1)!({ type: "PHASE_DONE" });
    await c.finish("fitting");
    await c.finish("selecting");
    await waitFor(actor, (s) => stateName(s.value) === "phase2.running");
    c.phaseSenders.get(2)!({ type: "PHASE_DONE" });
    await c.finish("checking");
    await c.finish("visualizing");
    await c.finish("reporting");
    await waitFor(actor, (s) => s.status === "done");
    expect(seen).toEqual([
      "phase1.running",
      "fitting",
      "selecting",
      "phase2.running",
      "checking",
      "visualizing",
      "reporting",
      "done",
    ]);
  });

  it("pauses and resumes a phase (the phase actor stops and restarts) and keeps the reason", async () => {
    const c = controllable();
    const actor = createActor(c.machine, { input: { sessionId: "s" } }).start();
    await c.finish("preparing");
    await waitFor(actor, (s) => at({ getSnapshot: () => s }) === "phase1.running");
    actor.send({ type: "PAUSE", reason: "rig box lost" });
    expect(at(actor)).toBe("phase1.paused");
    expect(actor.getSnapshot().context.pauseReason).toBe("rig box lost");
    expect(c.phaseSenders.has(1)).toBe(false);
    actor.send({ type: "RESUME" });
    expect(at(actor)).toBe("phase1.running");
    expect(actor.getSnapshot().context.pauseReason).toBeNull();
    expect(c.starts).toEqual([1, 1]);
  });

  it("aborts from any state and fails with the reason of a failed step", async () => {
    const c = controllable();
    const actor = createActor(c.machine, { input: { sessionId: "s" } }).start();
    actor.send({ type: "ABORT", by: "test" });
    expect(actor.getSnapshot().status).toBe("done");
    expect(at(actor)).toBe("aborted");
    expect(actor.getSnapshot().context.abortedBy).toBe("test");

    const failing = createActor(
      dayMachine.provide({
        actors: {
          prepare: fromPromise<void, { sessionId: string }>(async () => {
            throw new Error("manifest missing");
          }),
        },
      }),
      { input: { sessionId: "s" } },
    ).start();
    await waitFor(failing, (s) => s.status === "done");
    expect(at(failing)).toBe("failed");
    expect(failing.getSnapshot().context.failedReason).toBe("preparing: manifest missing");

    const c2 = controllable();
    const a2 = createActor(c2.machine, { input: { sessionId: "s" } }).start();
    await c2.finish("preparing");
    await waitFor(a2, (s) => stateName(s.value) === "phase1.running");
    c2.phaseSenders.get(1)!({ type: "PHASE_FAILED", reason: "display lost" });
    expect(at(a2)).toBe("failed");
    expect(a2.getSnapshot().context.failedReason).toBe("phase 1: display lost");
  });

  it("steps that are not built fail clearly instead of pretending", async () => {
    const actor = createActor(dayMachine, { input: { sessionId: "s" } }).start();
    await waitFor(actor, (s) => s.status === "done");
    expect(at(actor)).toBe("failed");
    expect(actor.getSnapshot().context.failedReason).toMatch(/preparing: .*not built/);
  });

  it("resumes from a persisted snapshot (JSON round trip) in the same state, restarting the phase actor", async () => {
    const c = controllable();
    const actor = createActor(c.machine, { input: { sessionId: "s" } }).start();
    await c.finish("preparing");
    await waitFor(actor, (s) => stateName(s.value) === "phase1.running");
    actor.send({ type: "PAUSE", reason: "operator" });
    const saved = JSON.parse(JSON.stringify(actor.getPersistedSnapshot()));
    actor.stop();

    const c2 = controllable();
    const restored = createActor(c2.machine, { input: { sessionId: "s" }, snapshot: saved }).start();
    expect(at(restored)).toBe("phase1.paused");
    expect(restored.getSnapshot().context.pauseReason).toBe("operator");
    restored.send({ type: "RESUME" });
    expect(c2.starts).toEqual([1]);
    c2.phaseSenders.get(1)!({ type: "PHASE_DONE" });
    expect(at(restored)).toBe("fitting");
  });
});
