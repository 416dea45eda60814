// NWB export of a small real day: the daemon with the virtual rig (pty rig box, headless display, simulated bridge)
// on a 22-image subset of the demo set with the w8 ResNet-18 at 64 px and lenient checks, so every step runs (fit,
// selection, phase 2, checks, saliency) in about half a minute. The daemon is stopped in the middle of phase 2 and
// the session exported then (incomplete); a new daemon resumes it, finishes the day and writes <session>.nwb beside
// the report. Both files are validated by hdmf's own validator (Debian's python3-hdmf) against ../shared/nwb-schema
// and against the spec cached in the file, and read back by h5py alone (test/reference/nwb_read.py): every spike
// of every presentation, the trials table and the stimulus templates are compared with the store and the files.
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readNpy } from "../../analysis/features/npy.ts";
import { type Config, loadConfig } from "../../config/index.ts";
import { exportCommand } from "../../controller/commands/export.ts";
import { startDaemon } from "../../controller/commands/serve.ts";
import type { Daemon } from "../../controller/daemon.ts";
import { exportSessionNwbInWorker } from "../../controller/export/nwb/export-job.ts";
import type { NwbExportResult } from "../../controller/export/nwb/export-nwb.ts";
import { silentLogger } from "../../controller/log.ts";
import { type RunningSimulation, startSimulation } from "../../controller/simulate/run.ts";
import {
  type SessionRow,
  SessionStore,
  type StoredTrialPart,
  type TrialRecord,
} from "../../controller/store/store.ts";
import { freePort, simulatedProtocol, waitFor } from "./simulated-day.ts";
import { REPO, W8_RESNET18 } from "./stored-session.ts";

const PYTHON = "/usr/bin/python3";
const SCHEMA = resolve(REPO, "..", "shared", "nwb-schema");
const SPAN = { preMs: 75, postMs: 250 }; // demo.yaml's windows: baseline from −75 ms, response to 250 ms

interface Validation {
  errors: string[];
  namespaces: Record<string, string>;
}
const validate = (file: string, cached = false): Validation =>
  JSON.parse(
    execFileSync(PYTHON, ["test/reference/nwb_validate.py", file, SCHEMA, ...(cached ? ["--cached"] : [])], {
      cwd: REPO,
      encoding: "utf8",
    }),
  );

type Cell = number | string | null | Cell[];
interface Table {
  attrs: Record<string, Cell>;
  id: number[];
  columns: Record<string, Cell[]>;
  regions: Record<string, string>;
}
interface ImageItem {
  name: string;
  neurodata_type: string;
  description: string;
  shape: number[];
  dtype: string;
  sha256: string;
  equals_file?: boolean;
}
interface ReadBack {
  root: Record<string, Cell>;
  datasets: Record<string, Cell>;
  general: Record<string, { value: Cell; attrs: Record<string, Cell> }>;
  tables: Record<string, Table>;
  images: Record<string, ImageItem[]>;
  index_series?: { data: number[]; timestamps: number[]; indexed_images: string };
  specifications?: Record<string, string[]>;
}

/** What the store held when a file was written: the comparisons are against this. */
interface StoreSnapshot {
  row: SessionRow;
  trials: Array<TrialRecord & { createdAt: string }>;
  data: StoredTrialPart[];
  channels: string[];
  stimuli: Record<string, string>;
}

function snapshot(store: SessionStore, sessionId: string): StoreSnapshot {
  return {
    row: store.getSession(sessionId)!,
    trials: store.trials(sessionId),
    // Copies: the blobs' views must outlive the store.
    data: store.trialData(sessionId).map((p) => ({
      ...p,
      counts: p.counts.slice(),
      offsets: p.offsets?.slice() ?? null,
      spikes: p.spikes?.slice() ?? null,
    })),
    channels: store.channels(sessionId).map((c) => c.id),
    stimuli: Object.fromEntries(store.stimuli(sessionId).map((s) => [s.id, s.path])),
  };
}

function readBack(dir: string, file: string, snap: StoreSnapshot): ReadBack {
  const stimuli = join(dir, `stimuli-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(stimuli, JSON.stringify(snap.stimuli));
  return JSON.parse(
    execFileSync(PYTHON, ["test/reference/nwb_read.py", file, stimuli], {
      cwd: REPO,
      encoding: "utf8",
      maxBuffer: 256 * 1024 * 1024,
    }),
  );
}

/** A day on 12 bodies, 6 objects and 4 control bodies (the demo set's first ones), 4 channels, 2 + 2 repetitions. */
function smallDay(dir: string): string {
  const replace: Array<[string, string]> = [];
  for (const [set, n] of [
    ["bodies", 12],
    ["objects", 6],
    ["control-bodies", 4],
  ] as const) {
    const m = JSON.parse(readFileSync(join(REPO, "stimuli", "demo", set, "manifest.json"), "utf8"));
    m.images = m.images.slice(0, n).map((im: { path: string }) => ({
      ...im,
      path: relative(dir, join(REPO, "stimuli", "demo", set, im.path)),
    }));
    writeFileSync(join(dir, `${set}.json`), JSON.stringify(m));
    replace.push([join(dir, "sets", set, "manifest.json"), join(dir, `${set}.json`)]); // testDaySets' file
  }
  return simulatedProtocol(dir, {
    repetitions: 2,
    channels: 4,
    simulation: ["neurons: thumbnail"],
    replace: [
      ...replace,
      ["backbone: resnet50", "backbone: resnet18"],
      ["variant: keras", "variant: torchvision"],
      ["imageSize: 224", "imageSize: 64"],
      ["epochs: 300", "epochs: 30"],
      ["split: { train: 28, validation: 6, test: 6 }", "split: { train: 8, validation: 2, test: 2 }"],
      ["phase2:\n  repetitions: 6", "phase2:\n  repetitions: 2"],
      ["retestCount: 20", "retestCount: 4"],
      // Lenient checks: every channel is kept, so the saliency step runs for each.
      ["stabilityMinR: 0.6", "stabilityMinR: -1"],
      ["selectivityAlpha: 0.05", "selectivityAlpha: 0.999"],
      ["responsivenessMinRate: 5", "responsivenessMinRate: 0"],
      ["splitHalfMinR: 0.5", "splitHalfMinR: -1"],
      ["kruskalWallisMaxP: 0.01", "kruskalWallisMaxP: 0.999"],
      ["topObjects: 5", "topObjects: 2"],
      ["topBodies: 15", "topBodies: 3"],
      ["minObjectR: 0.4", "minObjectR: -1"],
    ],
  });
}

/** Every spike of every presentation in the file is the store's, placed at its onset (docs/nwb.md, clock.ts). */
function expectSpikesEqualStore(back: ReadBack, snap: StoreSnapshot): number {
  const t0 = Date.parse(snap.row.created_at);
  const onset = new Map(
    snap.trials
      .filter((t) => t.status === "shown" && t.onsetMs !== undefined)
      .map((t) => [t.trialId, t.onsetMs!]),
  );
  // The store's spikes of each (channel, presentation) that has an onset, in presentation order.
  const expected = new Map<string, Array<{ trialId: number; times: number[] }>>(
    snap.channels.map((c) => [c, []]),
  );
  for (const part of snap.data) {
    const at = onset.get(part.trialId);
    if (at === undefined || !part.offsets || !part.spikes) continue;
    part.channelIds.forEach((ch, c) => {
      const stored = Array.from(part.spikes!.subarray(part.offsets![c], part.offsets![c + 1]));
      const times = stored.map((ms) => (at - t0 + ms) / 1000).sort((a, b) => a - b);
      expected.get(ch)!.push({ trialId: part.trialId, times });
    });
  }
  const units = back.tables["/units"];
  expect(units.columns.channel_id).toEqual(snap.channels);
  let spikes = 0;
  snap.channels.forEach((ch, u) => {
    const want = expected.get(ch)!;
    const trialIds = units.columns.presentation_trial_id[u] as number[];
    const counts = units.columns.presentation_spike_count[u] as number[];
    const times = units.columns.spike_times[u] as number[];
    const windows = units.columns.obs_intervals[u] as number[][];
    expect(trialIds).toEqual(want.map((w) => w.trialId));
    expect(counts).toEqual(want.map((w) => w.times.length));
    let at = 0;
    want.forEach((w, k) => {
      expect(times.slice(at, at + counts[k])).toEqual(w.times); // exact float64 equality
      const o = onset.get(w.trialId)!;
      expect(windows[k]).toEqual([(o - t0 - SPAN.preMs) / 1000, (o - t0 + SPAN.postMs) / 1000]);
      at += counts[k];
    });
    expect(times).toHaveLength(at);
    spikes += at;
  });
  expect(spikes).toBeGreaterThan(0);
  return spikes;
}

/** The trials table is the store's trials table, row for row. */
function expectTrialsEqualStore(back: ReadBack, snap: StoreSnapshot, voidReasons: Map<number, string>): void {
  const t0 = Date.parse(snap.row.created_at);
  const sec = (ms: number) => (ms - t0) / 1000;
  const trials = back.tables["/intervals/trials"];
  const col = trials.columns;
  expect(trials.attrs.neurodata_type).toBe("TimeIntervals");
  expect(trials.id).toEqual(snap.trials.map((t) => t.trialId));
  expect(col.stimulus_id).toEqual(snap.trials.map((t) => t.stimulusId));
  expect(col.phase).toEqual(snap.trials.map((t) => t.phase));
  expect(col.block).toEqual(snap.trials.map((t) => t.block));
  expect(col.event_code).toEqual(snap.trials.map((t) => t.eventCode));
  expect(col.status).toEqual(snap.trials.map((t) => t.status));
  expect(col.dropped_frames).toEqual(snap.trials.map((t) => t.droppedFrames ?? -1));
  expect(col.announced_time).toEqual(snap.trials.map((t) => sec(Date.parse(t.createdAt))));
  snap.trials.forEach((t, i) => {
    if (t.status === "shown") {
      expect(col.start_time[i]).toBe(sec(t.onsetMs!));
      expect(col.stop_time[i]).toBe(sec(t.offsetMs!));
      expect(col.void_reason[i]).toBe("");
    } else {
      expect(col.start_time[i]).toBe(sec(Date.parse(t.createdAt)));
      expect(col.void_reason[i]).toBe(t.status === "voided" ? (voidReasons.get(t.trialId) ?? "") : "");
    }
  });
  // The store has no photodiode onsets yet: the column is left out.
  expect(col.photodiode_onset).toBeUndefined();
}

/** Templates: the presented stimuli, each equal to its file as PIL decodes it for the display. */
function expectTemplatesEqualFiles(back: ReadBack, snap: StoreSnapshot): void {
  const images = back.images["/stimulus/templates/presented_images"];
  const presented = [...new Set(snap.trials.map((t) => t.stimulusId))];
  expect(images.map((i) => i.name.replace(":", "/")).sort()).toEqual(presented.sort());
  for (const im of images) {
    expect(im.neurodata_type).toBe("RGBImage");
    expect(im.dtype).toBe("|u1");
    expect(im.equals_file).toBe(true);
  }
  // Each trial's stimulus_template names its stimulus' image.
  const col = back.tables["/intervals/trials"].columns;
  col.stimulus_template.forEach((k, i) => {
    expect(images[k as number].name.replace(":", "/")).toBe(col.stimulus_id[i]);
  });
  // The IndexSeries: one entry per shown presentation, at its onset.
  const t0 = Date.parse(snap.row.created_at);
  const shown = snap.trials.filter((t) => t.status === "shown");
  expect(back.index_series!.indexed_images).toBe("/stimulus/templates/presented_images");
  expect(back.index_series!.timestamps).toEqual(shown.map((t) => (t.onsetMs! - t0) / 1000));
  expect(back.index_series!.data.map((k) => images[k].name.replace(":", "/"))).toEqual(
    shown.map((t) => t.stimulusId),
  );
}

function voidReasonsOf(store: SessionStore, sessionId: string): Map<number, string> {
  return new Map(
    store
      .events(sessionId, 0, 100_000)
      .filter((e) => e.type === "trial" && e.subtype === "voided")
      .map((e) => {
        const c = JSON.parse(e.content) as { trialId: number; reason: string };
        return [c.trialId, c.reason];
      }),
  );
}

describe("NWB export of a recorded day", () => {
  let dir: string;
  let config: Config;
  let daemon: Daemon | undefined;
  let sim: RunningSimulation | undefined;
  let sessionId: string;
  let partial: { file: string; result: NwbExportResult; snap: StoreSnapshot; voided: Map<number, string> };
  let full: { file: string; snap: StoreSnapshot; voided: Map<number, string> };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "ephys-nwb-"));
    const protocolPath = smallDay(dir);
    const hostPath = join(dir, "box-host");
    config = loadConfig({
      env: {},
      flags: {
        dataDir: dir,
        port: await freePort(),
        "rig.serialPath": hostPath,
        "weights.path": W8_RESNET18,
        "weights.arch": "resnet18",
        "compute.tfjsBackend": "wasm",
      },
    });
    daemon = await startDaemon(config, { protocolPath, timeScale: 0.01, log: silentLogger });
    sim = await startSimulation({
      url: daemon.wsUrl,
      token: daemon.token,
      protocolPath,
      hostPath,
      boxPath: join(dir, "box"),
    });
    const first = daemon;
    sessionId = first.sessionId;
    await waitFor(
      "5 shown phase-2 presentations",
      () =>
        first.status().state === "failed" ||
        first.store.trials(sessionId, 2).filter((t) => t.status === "shown").length >= 5,
      90_000,
    );
    expect(first.status().failedReason).toBeNull();
    await first.stop(); // interrupted mid-phase: the session stays in phase2.running
    daemon = undefined;

    const store = new SessionStore(join(dir, "ephysloop.db"));
    const file = join(dir, "partial.nwb");
    // Small chunks, so the streamed datasets cross many chunk boundaries.
    const result = await exportSessionNwbInWorker({
      dbPath: join(dir, "ephysloop.db"),
      sessionId,
      path: file,
      options: { nwbSchemaDir: SCHEMA, chunkRows: 16 },
    });
    partial = { file, result, snap: snapshot(store, sessionId), voided: voidReasonsOf(store, sessionId) };
    store.close();

    daemon = await startDaemon(config, { timeScale: 0.01, log: silentLogger }); // resumes the session
    const second = daemon;
    await waitFor("the end of the day", () => ["done", "failed"].includes(second.status().state), 90_000);
    expect(second.status().failedReason).toBeNull();
    full = {
      file: join(dir, "sessions", sessionId, `${sessionId}.nwb`),
      snap: snapshot(second.store, sessionId),
      voided: voidReasonsOf(second.store, sessionId),
    };
    await sim.stop();
    sim = undefined;
    await second.stop();
    daemon = undefined;
  }, 200_000);

  afterAll(async () => {
    await sim?.stop();
    await daemon?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("the day writes <session>.nwb beside its report, as an artifact; hdmf's validator finds no error", () => {
    expect(existsSync(full.file)).toBe(true);
    expect(existsSync(join(dir, "sessions", sessionId, "report.html"))).toBe(true);
    const store = new SessionStore(join(dir, "ephysloop.db"));
    const art = store.artifacts(sessionId, "nwb");
    store.close();
    expect(art).toHaveLength(1);
    expect(art[0].path).toBe(full.file);
    expect(art[0].meta).toMatchObject({
      format: "nwb",
      nwbVersion: "2.6.0",
      complete: true,
      state: "reporting",
    });
    for (const cached of [false, true]) {
      const v = validate(full.file, cached);
      expect(v.errors).toEqual([]);
      expect(v.namespaces).toMatchObject({ core: "2.6.0-alpha", "hdmf-common": "1.5.1" });
    }
  });

  it("a file with a required field removed fails the validator", () => {
    const broken = join(dir, "broken.nwb");
    copyFileSync(full.file, broken);
    execFileSync(PYTHON, [
      "-c",
      "import sys, h5py\nf = h5py.File(sys.argv[1], 'r+')\ndel f['session_start_time']\n" +
        "del f['general/extracellular_ephys/electrodes/location']\ndel f['units'].attrs['colnames']\nf.close()",
      broken,
    ]);
    const errors = validate(broken).errors.join("\n");
    expect(errors).toMatch(/session_start_time/);
    expect(errors).toMatch(/location/);
    expect(errors).toMatch(/colnames/);
  });

  it("every spike of every presentation equals the store's; the trials table equals the store's", () => {
    const back = readBack(dir, full.file, full.snap);
    const spikes = expectSpikesEqualStore(back, full.snap);
    expectTrialsEqualStore(back, full.snap, full.voided);
    expect(full.snap.trials.some((t) => t.status === "voided")).toBe(true); // voided rows were compared too
    expect(back.tables["/units"].regions.electrodes).toBe("/general/extracellular_ephys/electrodes");
    expect(back.tables["/units"].columns.electrodes).toEqual(full.snap.channels.map((_, u) => [u]));
    const store = new SessionStore(join(dir, "ephysloop.db"));
    const art = store.artifacts(sessionId, "nwb")[0].meta as { spikes: number };
    store.close();
    expect(art.spikes).toBe(spikes);
  });

  it("stimulus templates equal the stimulus files as shown; the presentations index them", () => {
    const back = readBack(dir, full.file, full.snap);
    expectTemplatesEqualFiles(back, full.snap);
  });

  it("holds the session's metadata, electrodes, checks, readouts, selections and saliency maps", async () => {
    const back = readBack(dir, full.file, full.snap);
    const row = full.snap.row;
    expect(back.root).toMatchObject({ neurodata_type: "NWBFile", namespace: "core", nwb_version: "2.6.0" });
    expect(back.datasets.identifier).toBe(sessionId);
    expect(back.datasets.session_start_time).toBe(row.created_at);
    expect(back.datasets.timestamps_reference_time).toBe(row.created_at);
    expect(back.datasets.session_description).toMatch(/complete\)/);
    expect(back.general.protocol.value).toBe(row.protocol_text);
    expect(back.general.protocol.attrs).toMatchObject({ sha256: row.protocol_sha256, name: "demo" });
    expect(back.general.source_script.attrs.recorded_with).toBe(row.code_version);
    expect(back.general.notes.attrs).toMatchObject({ complete: 1, state: "reporting" });
    expect(back.specifications).toEqual({ core: ["2.6.0-alpha"], "hdmf-common": ["1.5.1"] });

    const store = new SessionStore(join(dir, "ephysloop.db"));
    try {
      const electrodes = back.tables["/general/extracellular_ephys/electrodes"].columns;
      const channels = store.channels(sessionId);
      expect(electrodes.channel_id).toEqual(channels.map((c) => c.id));
      expect(electrodes.channel_index).toEqual(channels.map((c) => c.index));
      expect(electrodes.group_name).toEqual(channels.map((c) => c.probe));
      expect(electrodes.group).toEqual(channels.map((c) => `/general/extracellular_ephys/${c.probe}`));

      const units = back.tables["/units"].columns;
      for (const r of store.checkResults(sessionId)) {
        const u = channels.findIndex((c) => c.id === r.channelId);
        const key = r.name.replace(/[^A-Za-z0-9]+/g, "_");
        expect(units[`${key}_value`][u]).toBe(r.value);
        expect(units[`${key}_passed`][u]).toBe(r.passed ? 1 : 0);
      }
      expect(units.included).toEqual(channels.map(() => 1));

      const models = store.models(sessionId);
      const readouts = back.tables["/processing/readouts/gaussian_readouts"].columns;
      const params = models.map(
        (m) => m.params as { location: number[]; sigma: number[]; weights: number[]; testR: number },
      );
      expect(readouts.channel_id).toEqual(models.map((m) => m.channelId));
      expect(readouts.location).toEqual(params.map((p) => p.location));
      expect(readouts.sigma).toEqual(params.map((p) => p.sigma));
      expect(readouts.weights).toEqual(params.map((p) => p.weights.map((w) => Math.fround(w))));
      expect(units.model_test_r).toEqual(
        channels.map((c) => params[models.findIndex((m) => m.channelId === c.id)].testR),
      );

      const selections = back.tables["/analysis/phase2_selections"].columns;
      const stored = store.selections(sessionId);
      expect(selections.stimulus_id).toEqual(stored.map((s) => s.stimulusId));
      expect(selections.rule).toEqual(stored.map((s) => s.rule));

      // Saliency maps: the .npy files of each channel's saliency artifact, bit for bit.
      const maps = back.images["/processing/shared_features/saliency_maps"];
      const artifacts = store.artifacts(sessionId, "saliency");
      expect(artifacts.length).toBe(channels.length);
      const { createHash } = await import("node:crypto");
      for (const a of artifacts)
        for (const [which, npy] of [
          ["object", "out_map.npy"],
          ["body", "in_map.npy"],
        ]) {
          const m = await readNpy(join(a.path!, npy));
          const item = maps.find((x) => x.name === `${a.channelId}:${which}`)!;
          expect(item.shape).toEqual(m.shape);
          expect(item.sha256).toBe(createHash("sha256").update(Buffer.from(m.data.buffer)).digest("hex"));
        }
    } finally {
      store.close();
    }
  });

  it("the session interrupted mid-phase 2 exports what it had, marked incomplete", () => {
    const { result, snap } = partial;
    expect(result.completeness).toMatchObject({ complete: false, state: "phase2.running" });
    for (const cached of [false, true]) expect(validate(partial.file, cached).errors).toEqual([]);
    const back = readBack(dir, partial.file, snap);
    expect(back.datasets.session_description).toMatch(/INCOMPLETE/);
    expect(back.general.notes.attrs).toMatchObject({ complete: 0, state: "phase2.running" });
    expect(String(back.general.notes.value)).toMatch(
      /^Incomplete session: the session stopped in state phase2\.running/,
    );
    // What it had: phase 1, part of phase 2, the fit and the selection; no checks and no maps yet.
    expect(snap.trials.some((t) => t.phase === 2)).toBe(true);
    expect(snap.trials.length).toBeLessThan(full.snap.trials.length);
    expectSpikesEqualStore(back, snap);
    expectTrialsEqualStore(back, snap, partial.voided);
    expectTemplatesEqualFiles(back, snap);
    expect(back.tables["/processing/readouts/gaussian_readouts"]).toBeDefined();
    expect(back.tables["/analysis/phase2_selections"]).toBeDefined();
    expect(back.tables["/units"].columns.included).toEqual(snap.channels.map(() => -1));
    expect(back.images["/processing/shared_features/saliency_maps"]).toBeUndefined();
  });

  it("`ephysloop export SESSION --nwb FILE` writes the file and says what it holds; bad flags are coded errors", async () => {
    const file = join(dir, "cli", "day.nwb");
    const out = execFileSync(
      process.execPath,
      ["bin/ephysloop.mjs", "export", sessionId, "--nwb", file, "--data-dir", dir, "--log-level", "warn"],
      { cwd: REPO, encoding: "utf8", env: { ...process.env, EPHYSLOOP_NWB_SCHEMA: SCHEMA } },
    );
    expect(out).toContain(`${file}: NWB 2.6.0`);
    expect(out).toMatch(/4 units, \d+ spikes/);
    expect(validate(file).errors).toEqual([]);
    // The command's errors, in process: a coded error naming the flag or the session.
    await expect(exportCommand(config, "no-such-session", { nwb: file })).rejects.toMatchObject({
      code: "EPHYS_BAD_EXPORT_COMMAND",
      message: expect.stringContaining('SESSION: no session "no-such-session"'),
    });
    await expect(exportCommand(config, sessionId, { nwb: join(dir, "day.h5") })).rejects.toMatchObject({
      code: "EPHYS_BAD_EXPORT_COMMAND",
      message: expect.stringContaining("--nwb: "),
    });
  });
});
