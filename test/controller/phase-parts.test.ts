// A phase whose plan grows while it runs (phase 3: a part per channel, once its fragments are made), on a real
// SessionStore: the runner presents part 0 in its blocks, waits (nothing pending, the plan marked incomplete) until
// part 1 is known, preloads it and presents it in the next blocks; a restart in the middle of a part shows every
// stimulus exactly its repetitions. phase3Parts reads the parts from the stored "fragments" artifacts in order
// (a parent two channels share in both), says what is known without waiting, waits for FRAGMENTS_READY and ends at
// PLAN_COMPLETE; test-fragments' trialRatesByPart counts a shared parent's trials for each part on its own.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../config/index.ts";
import { stepContext } from "../../controller/day/context.ts";
import { FRAGMENTS_READY, PLAN_COMPLETE, phase3Parts } from "../../controller/day/phase3-parts.ts";
import { trialRates, trialRatesByPart } from "../../controller/day/rates.ts";
import { silentLogger } from "../../controller/log.ts";
import {
  AbortedError,
  type PhaseParts,
  type PhaseProgress,
  type PhaseStimulus,
  runPhase,
  singlePart,
} from "../../controller/scheduler/phase-runner.ts";
import type { DisplayPort } from "../../controller/scheduler/rig-ports.ts";
import { alwaysFixating } from "../../controller/scheduler/rig-ports.ts";
import { SessionStore } from "../../controller/store/store.ts";
import { loadProtocol } from "../../protocols/load.ts";

const SID = "s";
const demo = loadProtocol("protocols/demo.yaml");
const REPS = 3;
const protocol = { ...demo.protocol, phase3: { ...demo.protocol.phase3!, repetitions: REPS } };
const IDS = ["a", "b", "c", "d", "e"];

let stores: SessionStore[] = [];
afterEach(() => {
  for (const s of stores) s.close();
  stores = [];
});

function openStore(): SessionStore {
  const store = new SessionStore(join(mkdtempSync(join(tmpdir(), "ephys-parts-")), "ephysloop.db"));
  stores.push(store);
  store.createSession({
    id: SID,
    protocolName: "demo",
    protocolPath: demo.path,
    protocolText: demo.text,
    protocolSha256: demo.sha256,
    codeVersion: "t",
    software: {},
    seed: protocol.seed,
  });
  store.insertStimuli(
    SID,
    IDS.map((id) => ({
      id,
      setId: "fragments",
      category: "body",
      role: "fragment",
      path: `/x/${id}.png`,
      sha256: id,
    })),
  );
  return store;
}

const stim = (ids: string[]): PhaseStimulus[] => ids.map((id) => ({ id, eventCode: IDS.indexOf(id) + 1 }));

/** Parts the test hands out: part k is asked for, then given when the test says. */
function heldParts() {
  const asked: Array<(v: PhaseStimulus[] | null) => void> = [];
  const waiting: Array<() => void> = [];
  const given: Array<PhaseStimulus[] | null> = [];
  const parts: PhaseParts = {
    part: (k) =>
      new Promise((resolve) => {
        asked[k] = resolve;
        for (const w of waiting.splice(0)) w();
      }),
    known: () => ({
      stimuli: given.reduce((n, p) => n + (p?.length ?? 0), 0),
      complete: given.includes(null),
    }),
  };
  return {
    parts,
    /** Resolves once part k has been asked for. */
    askedFor: (k: number) =>
      new Promise<void>((resolve) => {
        const check = () => (asked[k] ? resolve() : waiting.push(check));
        check();
      }),
    give: (k: number, v: PhaseStimulus[] | null) => {
      given[k] = v;
      asked[k](v);
    },
  };
}

function rig(onShow?: (trialId: number) => void) {
  const preloads: string[][] = [];
  const display: DisplayPort = {
    show: async (trialId) => {
      onShow?.(trialId);
      return { onset: trialId * 10, offset: trialId * 10 + 5, droppedFrames: 0 };
    },
  };
  return {
    preloads,
    display: async (ids: string[]) => {
      preloads.push(ids);
      return display;
    },
  };
}

const acquisition = { announce: () => {}, waitForData: async () => [] };

function run(store: SessionStore, parts: PhaseParts, r: ReturnType<typeof rig>, signal: AbortSignal) {
  const progress: PhaseProgress[] = [];
  const done = runPhase({
    store,
    sessionId: SID,
    phase: 3,
    protocol,
    parts,
    box: alwaysFixating,
    display: r.display,
    acquisition,
    timeScale: 0,
    signal,
    onProgress: (p) => progress.push(p),
  });
  return { done, progress };
}

const shownOf = (store: SessionStore) => store.trials(SID, 3).filter((t) => t.status === "shown");

describe("a phase whose plan grows while it runs", () => {
  it("presents part 0 in its blocks, waits for part 1 with nothing pending, then presents it in the next blocks", async () => {
    const store = openStore();
    const held = heldParts();
    const r = rig();
    const { done, progress } = run(store, held.parts, r, new AbortController().signal);
    await held.askedFor(0);
    held.give(0, stim(["a", "b", "c"]));
    await held.askedFor(1);
    // Part 0 is shown: each stimulus REPS times, one per block 0..REPS-1; nothing pending while the runner waits.
    let shown = shownOf(store);
    expect(shown).toHaveLength(3 * REPS);
    expect(store.trials(SID, 3).filter((t) => t.status === "pending")).toHaveLength(0);
    for (const id of ["a", "b", "c"])
      expect(shown.filter((t) => t.stimulusId === id).map((t) => t.block)).toEqual([0, 1, 2]);
    expect(progress.at(-1)).toMatchObject({ shown: 9, planned: 9, complete: false });
    expect(r.preloads).toEqual([["a", "b", "c"]]);

    held.give(1, stim(["d", "e"]));
    await held.askedFor(2);
    held.give(2, null);
    await done;
    shown = shownOf(store);
    expect(shown).toHaveLength(5 * REPS);
    for (const id of ["d", "e"])
      expect(shown.filter((t) => t.stimulusId === id).map((t) => t.block)).toEqual([3, 4, 5]);
    // Part 1's blocks come after part 0's in time, and only part 1's stimuli are preloaded for it.
    const last0 = Math.max(...shown.filter((t) => t.block < REPS).map((t) => t.trialId));
    expect(Math.min(...shown.filter((t) => t.block >= REPS).map((t) => t.trialId))).toBeGreaterThan(last0);
    expect(r.preloads).toEqual([
      ["a", "b", "c"],
      ["d", "e"],
    ]);
    expect(progress.at(-1)).toMatchObject({ shown: 15, planned: 15, complete: true });
    // The event codes reach the trials.
    expect(new Set(shown.map((t) => `${t.stimulusId}:${t.eventCode}`))).toEqual(
      new Set(IDS.map((id, i) => `${id}:${i + 1}`)),
    );
  });

  it("after a stop in the middle of part 1, a second run shows every stimulus exactly its repetitions", async () => {
    const store = openStore();
    const parts: PhaseParts = {
      part: async (k) => (k === 0 ? stim(["a", "b", "c"]) : k === 1 ? stim(["d", "e"]) : null),
      known: () => ({ stimuli: 5, complete: true }),
    };
    const stop = new AbortController();
    let shows = 0;
    const first = run(
      store,
      parts,
      rig(() => {
        if (++shows === 3 * REPS + 3) stop.abort(); // the 4th presentation of part 1
      }),
      stop.signal,
    );
    await expect(first.done).rejects.toBeInstanceOf(AbortedError);
    const before = shownOf(store);
    expect(before.length).toBeGreaterThan(3 * REPS);
    expect(before.length).toBeLessThan(5 * REPS);

    const second = run(store, parts, rig(), new AbortController().signal);
    await second.done;
    const shown = shownOf(store);
    for (const id of IDS) expect(shown.filter((t) => t.stimulusId === id)).toHaveLength(REPS);
    const perBlock = new Map<string, number>();
    for (const t of shown)
      perBlock.set(`${t.block}/${t.stimulusId}`, (perBlock.get(`${t.block}/${t.stimulusId}`) ?? 0) + 1);
    expect([...perBlock.values()].every((n) => n === 1)).toBe(true);
    expect(store.trials(SID, 3).filter((t) => t.status === "pending")).toHaveLength(0);
    expect(second.progress.at(-1)).toMatchObject({ shown: 15, planned: 15, complete: true });
  });

  it("a plan of one part known at the start (phases 1 and 2) is complete from its first presentation", async () => {
    const store = openStore();
    const { done, progress } = run(store, singlePart(stim(IDS)), rig(), new AbortController().signal);
    await done;
    const during = progress.filter((p) => p.shown > 0 && p.shown < 5 * REPS);
    expect(during.length).toBeGreaterThan(0);
    expect(during.every((p) => p.complete && p.planned === 5 * REPS)).toBe(true);
  });
});

describe("phase 3's rates by part", () => {
  it("counts a parent two parts show for each part on its own (trialRatesByPart)", async () => {
    const store = openStore();
    store.upsertChannels(SID, [{ id: "x", probe: "p", index: 0 }]);
    const parts: PhaseParts = {
      part: async (k) => (k === 0 ? stim(["a", "b", "c"]) : k === 1 ? stim(["a", "d", "e"]) : null),
      known: () => ({ stimuli: 6, complete: true }),
    };
    await run(store, parts, rig(), new AbortController().signal).done;
    // Part 0's trials carry 4 response spikes, part 1's 8 (no baseline spikes): distinguishable net rates.
    let seq = 0;
    for (const t of shownOf(store))
      store.ingest(SID, [
        {
          seq: ++seq,
          trialId: t.trialId,
          channels: [{ channelId: "x", counts: { baseline: 0, response: t.block < REPS ? 4 : 8 } }],
        },
      ]);
    const byPart = trialRatesByPart(store, SID, protocol, REPS);
    const span = (protocol.windows.response.endMs - protocol.windows.response.startMs) / 1000;
    expect(byPart.get(0)!.get("x")!.get("a")).toEqual([4 / span, 4 / span, 4 / span]);
    expect(byPart.get(1)!.get("x")!.get("a")).toEqual([8 / span, 8 / span, 8 / span]);
    expect(byPart.get(1)!.get("x")!.get("b")).toBeUndefined();
    expect(trialRates(store, SID, protocol, 3).get("x")!.get("a")).toHaveLength(2 * REPS);
  });
});

describe("phase 3's parts from the stored fragments", () => {
  const fragments = (store: SessionStore, channelId: string, stimuli: string[]) => {
    store.addArtifact(SID, { channelId, kind: "fragments", path: `/x/${channelId}`, meta: { stimuli } });
    store.appendEvent(SID, FRAGMENTS_READY.type, FRAGMENTS_READY.subtype, { channelId });
  };
  const context = (store: SessionStore) =>
    stepContext({
      store,
      sessionId: SID,
      loaded: demo,
      config: loadConfig({ env: {}, flags: {} }),
      log: silentLogger,
    });

  it("gives each channel's stimuli in order, a shared parent in each, waits for the next and ends at PLAN_COMPLETE", async () => {
    const store = openStore();
    const parts = phase3Parts(context(store));
    const signal = new AbortController().signal;
    expect(parts.known()).toEqual({ stimuli: 0, complete: false });
    fragments(store, "ch1", ["a", "b", "c"]);
    expect(parts.known()).toEqual({ stimuli: 3, complete: false });
    expect(await parts.part(0, signal)).toEqual(stim(["a", "b", "c"]));
    let got: PhaseStimulus[] | null | undefined;
    const next = parts.part(1, signal).then((p) => {
      got = p;
    });
    await new Promise((r) => setImmediate(r));
    expect(got).toBeUndefined(); // nothing stored yet: it waits
    expect(store.latestEvents(SID, "phase3", 1)[0]).toMatchObject({ subtype: "waiting" });
    fragments(store, "ch2", ["a", "d", "e"]); // "a" is the first channel's too: shown in both parts
    await next;
    expect(got).toEqual(stim(["a", "d", "e"]));
    expect(parts.known()).toEqual({ stimuli: 6, complete: false });
    // The same parts after a restart, read back from the store.
    const again = phase3Parts(context(store));
    expect(await again.part(1, signal)).toEqual(stim(["a", "d", "e"]));

    const last = parts.part(2, signal);
    store.appendEvent(SID, PLAN_COMPLETE.type, PLAN_COMPLETE.subtype, { channels: 2 });
    expect(await last).toBeNull();
    expect(parts.known()).toEqual({ stimuli: 6, complete: true });
    expect(await again.part(5, signal)).toBeNull();
  });

  it("a wait ends with AbortedError when the phase is stopped (a pause)", async () => {
    const store = openStore();
    const parts = phase3Parts(context(store));
    const stop = new AbortController();
    const waiting = parts.part(0, stop.signal);
    stop.abort();
    await expect(waiting).rejects.toBeInstanceOf(AbortedError);
  });
});
