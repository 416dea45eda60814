// Phase 3, the causal test of the explanation, on a whole simulated day run by a real `serve` child process over
// loopback (SQLite file, WebSockets, the rig box on a pty, the headless display, model neurons that respond to every
// fragment from its backbone features): phase 3 presents the first channel's fragments while the others' maps are
// still being made; SIGKILL in the middle of that, start again. The fragments made before are not cut differently
// (same ids, same hashes, files that still hash to them), the rest are made after the restart, no trial is lost or
// doubled, every stimulus is shown its repetitions, the causal test runs once on the whole phase, and on model
// neurons the highlighted fragments drive the channels more than random ones of the same area; the report has its
// section.
import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import type { FragmentsArtifactMeta } from "../../controller/day/steps/fragment.ts";
import type { CausalArtifactMeta } from "../../controller/day/steps/test-fragments.ts";
import type { SaliencyExtraPair } from "../../controller/day/steps/visualize.ts";
import { type RunningSimulation, startSimulation } from "../../controller/simulate/run.ts";
import { freePort, serveChild, simulatedProtocol, waitFor } from "./simulated-day.ts";

let children: ChildProcess[] = [];
let sim: RunningSimulation | undefined;
afterEach(async () => {
  await sim?.stop();
  for (const c of children) c.kill("SIGKILL");
  children = [];
});

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

describe("phase 3 through a SIGKILL", () => {
  it("resumes phase 3 with the same fragments, loses and doubles no trial, and tests the explanation", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ephys-phase3-"));
    // The demo's own day (its 261 images: on the suites' 76-image day the models are too poor for their maps to
    // point at what drives the neurons) with 4 channels, 2× faster than `npm start`.
    // topObjects 1: each channel's next recorded object is cut too, along its own pair's maps.
    const protocolPath = simulatedProtocol(dir, {
      demoSets: true,
      channels: 4,
      phase3: true,
      replace: [["  topObjects: 0 ", "  topObjects: 1 "]],
    });
    const port = await freePort();
    const hostPath = join(dir, "box-host");
    const token = "phase3-test-token-0123456789";
    const db = join(dir, "ephysloop.db");
    const serve = (extra: string[]) => {
      const child = serveChild({ dir, port, token, hostPath }, extra);
      children.push(child);
      return child;
    };
    const read = <T>(f: (d: Database.Database) => T, fallback: T): T => {
      try {
        const d = new Database(db, { readonly: true, fileMustExist: true });
        try {
          return f(d);
        } finally {
          d.close();
        }
      } catch {
        return fallback;
      }
    };
    const phase3Shown = () =>
      read(
        (d) =>
          (
            d.prepare("SELECT COUNT(*) AS n FROM trials WHERE phase = 3 AND status = 'shown'").get() as {
              n: number;
            }
          ).n,
        0,
      );
    const state = () =>
      read((d) => (d.prepare("SELECT state FROM sessions").get() as { state: string }).state, "");
    const fragmentRows = (d: Database.Database) =>
      d
        .prepare("SELECT id, path, sha256, category FROM stimuli WHERE role = 'fragment' ORDER BY id")
        .all() as Array<{ id: string; path: string; sha256: string; category: string }>;

    const first = serve(["--protocol", protocolPath]);
    sim = await startSimulation({
      url: `ws://127.0.0.1:${port}`,
      token,
      protocolPath,
      hostPath,
      boxPath: join(dir, "box"),
      featureCache: join(dir, "features"),
    });
    const fragmentArtifacts = () =>
      read(
        (d) =>
          (d.prepare("SELECT COUNT(*) AS n FROM artifacts WHERE kind = 'fragments'").get() as { n: number })
            .n,
        0,
      );
    // Killed while phase 3 presents the first channels' fragments and the others' are still being made.
    await waitFor(
      "10 phase-3 trials",
      () => {
        if (["done", "failed", "aborted"].includes(state()))
          throw new Error(`the day ended (${state()}) before 10 phase-3 trials`);
        return phase3Shown() >= 10;
      },
      300_000,
    );
    first.kill("SIGKILL");
    await new Promise((r) => first.once("exit", r));
    const before = read((d) => fragmentRows(d), []);
    const artifactsBefore = fragmentArtifacts();
    const completeBefore = read(
      (d) => d.prepare("SELECT COUNT(*) AS n FROM events WHERE type = 'phase3-plan'").get() as { n: number },
      { n: -1 },
    ).n;
    expect(before.length).toBeGreaterThan(0);

    serve([]); // no protocol: resume the unfinished session
    await waitFor("the day to end", () => ["done", "failed", "aborted"].includes(state()), 240_000);
    expect(state()).toBe("done");
    await waitFor("every sent message acked", () => sim!.bridge!.pending === 0, 30_000);

    const d = new Database(db, { readonly: true });
    try {
      // The fragments made before the kill were cut once: the same stimuli, the files on disk still hash to what is
      // stored; the channels not done then were made after the restart (the kill came while phase 3 was presenting
      // and the plan was still growing: the runner had waited for a later channel's fragments).
      const after = fragmentRows(d);
      expect(after).toEqual(expect.arrayContaining(before));
      for (const f of after) expect(sha256(f.path)).toBe(f.sha256);
      const fragments = d
        .prepare("SELECT channel_id, meta FROM artifacts WHERE kind = 'fragments' ORDER BY id")
        .all() as Array<{ channel_id: string; meta: string }>;
      expect(new Set(fragments.map((f) => f.channel_id)).size).toBe(fragments.length);
      expect(completeBefore).toBe(0);
      expect(artifactsBefore).toBeLessThan(fragments.length);
      expect(after.length).toBeGreaterThan(before.length);
      const waited = d
        .prepare("SELECT content FROM events WHERE type = 'phase3' AND subtype = 'part-ready'")
        .all() as Array<{ content: string }>;
      expect(waited.some((w) => JSON.parse(w.content).part >= 1)).toBe(true);
      expect(
        d
          .prepare("SELECT COUNT(*) AS n FROM events WHERE type = 'phase3-plan' AND subtype = 'complete'")
          .get(),
      ).toEqual({ n: 1 });
      const stimuli = new Set(fragments.flatMap((f) => JSON.parse(f.meta).stimuli as string[]));
      // phase3.topObjects 1: the pair's object and body, and the channel's best recorded object besides the pair's,
      // cut along the maps of its own pair (stored with the channel's saliency artifact), its fragments its own.
      const saliency = new Map(
        (
          d.prepare("SELECT channel_id, meta FROM artifacts WHERE kind = 'saliency'").all() as Array<{
            channel_id: string;
            meta: string;
          }>
        ).map((r) => [r.channel_id, JSON.parse(r.meta)]),
      );
      for (const f of fragments) {
        const meta = JSON.parse(f.meta) as FragmentsArtifactMeta;
        const extra = saliency.get(f.channel_id).extraPairs as SaliencyExtraPair[];
        expect(extra).toHaveLength(1);
        expect(existsSync(join(extra[0].dir, "out_map.npy"))).toBe(true);
        expect(extra[0].objectId).not.toBe(meta.objectId);
        expect(meta.parents.map((q) => [q.id, q.role, q.rank])).toEqual([
          [meta.objectId, "object", 0],
          [meta.bodyId, "body", 0],
          [extra[0].objectId, "object", extra[0].rank],
        ]);
        for (const q of meta.parents)
          expect(meta.fragments.filter((x) => x.parentId === q.id)).toHaveLength(5); // 1 + 1 + 3 random
        expect(meta.stimuli).toHaveLength(3 + 15);
      }

      // Trials: contiguous ids, none pending, every phase-3 stimulus shown its repetitions, one resume.
      const trials = d
        .prepare("SELECT trial_id, phase, status, stimulus_id FROM trials ORDER BY trial_id")
        .all() as Array<{ trial_id: number; phase: number; status: string; stimulus_id: string }>;
      expect(trials.map((t) => t.trial_id)).toEqual(trials.map((_, i) => i + 1));
      expect(trials.filter((t) => t.status === "pending")).toHaveLength(0);
      const shown3 = trials.filter((t) => t.phase === 3 && t.status === "shown");
      const perStimulus = new Map<string, number>();
      for (const t of shown3) perStimulus.set(t.stimulus_id, (perStimulus.get(t.stimulus_id) ?? 0) + 1);
      expect(new Set(perStimulus.keys())).toEqual(stimuli);
      // Each channel's part shows its stimuli 6×: a parent two channels share, 6× in each one's part.
      const parts = fragments.map((f) => JSON.parse(f.meta).stimuli as string[]);
      for (const [id, n] of perStimulus) expect(n, id).toBe(6 * parts.filter((p) => p.includes(id)).length);
      expect(
        d.prepare("SELECT COUNT(*) AS n FROM events WHERE type = 'session' AND subtype = 'resumed'").get(),
      ).toEqual({ n: 1 });

      // Nothing acked is lost; nothing is stored twice.
      const stored = new Set(
        (d.prepare("SELECT seq FROM acquisition_messages").all() as Array<{ seq: number }>).map((r) => r.seq),
      );
      for (const seq of sim.bridge!.acked) expect(stored.has(seq)).toBe(true);
      expect(
        d.prepare("SELECT trial_id FROM acquisition_messages GROUP BY trial_id HAVING COUNT(*) > 1").all(),
      ).toHaveLength(0);
      const rows = new Map(
        (
          d
            .prepare("SELECT trial_id, SUM(n_channels) AS n FROM trial_data GROUP BY trial_id")
            .all() as Array<{
            trial_id: number;
            n: number;
          }>
        ).map((r) => [r.trial_id, r.n]),
      );
      for (const t of shown3) expect(rows.get(t.trial_id)).toBe(4);

      // The causal test ran once, over every fragment's presentations; on model neurons the highlighted region
      // drives the channel more than random regions of the same area for most images.
      const tests = d.prepare("SELECT meta FROM artifacts WHERE kind = 'causal-test'").all() as Array<{
        meta: string;
      }>;
      expect(tests).toHaveLength(1);
      const causal = JSON.parse(tests[0].meta) as CausalArtifactMeta;
      expect(causal.channels.map((c) => c.channelId).sort()).toEqual(
        fragments.map((f) => f.channel_id).sort(),
      );
      const parents = causal.channels.flatMap((c) => c.parents);
      expect(parents.filter((p) => p.rank > 0)).toHaveLength(fragments.length);
      for (const p of parents) expect(p.rates.highlighted.trials).toBe(6);
      for (const p of parents) expect(p.rates.full.trials).toBe(6); // its own part's, whoever else shows it
      for (const p of parents) expect(p.rates.random.trials).toBe(18);
      // Across channels, one effect per channel and image: the visualized pair's.
      const pairObjects = parents.filter((p) => p.role === "object" && p.rank === 0 && p.effect);
      expect(causal.across.object?.n ?? 0).toBe(pairObjects.length);
      const higher = parents.filter((p) => (p.means.highlighted ?? 0) > (p.means.random ?? 0));
      expect(higher.length).toBeGreaterThan(parents.length / 2);
      expect(parents.some((p) => p.verdict === "highlighted drives more")).toBe(true);

      const session = (d.prepare("SELECT id FROM sessions").get() as { id: string }).id;
      const report = join(dir, "sessions", session, "report.html");
      expect(existsSync(report)).toBe(true);
      expect(readFileSync(report, "utf8")).toContain('id="causal"');
      expect(d.pragma("integrity_check", { simple: true })).toBe("ok");
    } finally {
      d.close();
    }
  }, 600_000);
});
