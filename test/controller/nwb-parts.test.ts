// The NWB exporter's parts: the region writer that streams units' spike times (chunk-aligned writes from
// interleaved streams, read back by h5py), DynamicTable columns as hdmf defines them (test/reference/nwb_read.py),
// the clock, the completeness mark, the spec cache's guards, the photodiode column, and a hand-built aborted session
// with a changed, a missing and a corrupt stimulus file and spike data of a voided presentation: exported valid
// (hdmf's validator), marked incomplete, with what it could not export in the notes.
import { execFileSync } from "node:child_process";
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { mulberry32 } from "../../analysis/random.ts";
import { ClockError, sessionClock } from "../../controller/export/nwb/clock.ts";
import { exportSessionNwb } from "../../controller/export/nwb/export-nwb.ts";
import { completenessOf } from "../../controller/export/nwb/file-metadata.ts";
import { chunkedDataset, createH5, H5, RegionWriter } from "../../controller/export/nwb/h5.ts";
import { endsOf, safeNames, TableWriter } from "../../controller/export/nwb/hdmf.ts";
import { cacheSpecifications, locateSpecSources } from "../../controller/export/nwb/spec-cache.ts";
import { writeTrials } from "../../controller/export/nwb/trials.ts";
import { SessionStore } from "../../controller/store/store.ts";
import { sha256File } from "../../stimuli/hash.ts";
import { createDemoSession, REPO } from "./stored-session.ts";

const PYTHON = "/usr/bin/python3";
const SCHEMA = resolve(REPO, "..", "shared", "nwb-schema");
const dir = mkdtempSync(join(tmpdir(), "nwb-parts-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const h5py = (script: string, file: string): unknown =>
  JSON.parse(
    execFileSync(PYTHON, ["-c", `import sys, json, h5py\nf = h5py.File(sys.argv[1], 'r')\n${script}`, file], {
      encoding: "utf8",
    }),
  );

describe("RegionWriter", () => {
  it("fills each stream's region from interleaved pushes of any size, across chunk boundaries", async () => {
    const random = mulberry32(3);
    const lengths = [0, 1, 37, 100, 9, 64];
    const chunk = 8;
    const file = join(dir, "regions.h5");
    const f = await createH5(file);
    const ds1 = chunkedDataset(
      f,
      "one",
      H5.f64,
      lengths.reduce((a, b) => a + b, 0),
      1,
      chunk,
    );
    const ds2 = chunkedDataset(
      f,
      "two",
      H5.f64,
      lengths.reduce((a, b) => a + b, 0),
      2,
      chunk,
    );
    const w1 = new RegionWriter(ds1, lengths, 1, chunk);
    const w2 = new RegionWriter(ds2, lengths, 2, chunk);
    const want: number[][] = lengths.map((n, k) =>
      Array.from({ length: n }, (_, i) => k * 1000 + i + random()),
    );
    const at = lengths.map(() => 0);
    while (at.some((a, k) => a < lengths[k])) {
      const k = Math.floor(random() * lengths.length);
      const n = Math.min(lengths[k] - at[k], Math.floor(random() * 12));
      const rows = want[k].slice(at[k], at[k] + n);
      w1.push(k, rows);
      w2.push(
        k,
        rows.flatMap((v) => [v, -v]),
      );
      at[k] += n;
    }
    w1.finish();
    w2.finish();
    f.close();
    const back = h5py(
      "print(json.dumps([f['one'][:].tolist(), f['two'][:].tolist(), f['one'].chunks]))",
      file,
    ) as [number[], number[][], number[]];
    expect(back[0]).toEqual(want.flat());
    expect(back[1]).toEqual(want.flat().map((v) => [v, -v]));
    expect(back[2]).toEqual([chunk]);
  });

  it("refuses more rows than a region was counted for, and an unfilled region, with EPHYS_NWB_REGION", async () => {
    const f = await createH5(join(dir, "overflow.h5"));
    const w = new RegionWriter(chunkedDataset(f, "x", H5.f64, 3, 1, 4), [1, 2], 1, 4);
    expect(() => w.push(0, [1, 2])).toThrow(expect.objectContaining({ code: "EPHYS_NWB_REGION" }));
    const short = new RegionWriter(chunkedDataset(f, "y", H5.f64, 3, 1, 4), [1, 2], 1, 4);
    short.push(1, [5]);
    expect(() => short.finish()).toThrow(/stream 0: 0 rows written, 1 counted/);
    f.close();
  });
});

describe("TableWriter", () => {
  it("writes columns h5py reads back as hdmf defines them: numbers, text, 2-D, ragged, references and regions, in colnames order", async () => {
    const file = join(dir, "table.h5");
    const f = await createH5(file);
    const targets = [f.create_group("a"), f.create_group("b")];
    const first = new TableWriter(f, "first", 2, { description: "a table to point at" });
    first.numbers("x", "x", new Float64Array([0.5, 1.5]), H5.f64);
    const firstGroup = first.finish();
    const t = new TableWriter(f, "t", 3, { description: "three rows" });
    t.numbers("n", "numbers", new Int32Array([1, -2, 3]), H5.i32);
    t.text("s", "text", ["α", "", "c/d"]);
    t.numbers("xy", "pairs", new Float64Array([1, 2, 3, 4, 5, 6]), H5.f64, 2);
    t.ragged("r", "ragged", new Float64Array([1, 2, 3]), H5.f64, endsOf([2, 0, 1]));
    t.refs("g", "references", [targets[1], targets[0], targets[1]]);
    t.region("row", "rows of first", firstGroup, new Int32Array([1, 0, 1]));
    t.finish(new Int32Array([10, 20, 30]));
    expect(() => t.numbers("bad", "wrong length", new Float64Array(2), H5.f64)).toThrow(
      /bad has 2 rows, the table 3/,
    );
    f.close();
    const script = readFileSync(join(REPO, "test", "reference", "nwb_read.py"), "utf8").replace(
      'if __name__ == "__main__":\n    main()',
      "",
    );
    const back = JSON.parse(
      execFileSync(
        PYTHON,
        ["-c", `${script}\nf = h5py.File(sys.argv[1], 'r')\nprint(json.dumps(read_table(f['t'], f)))`, file],
        {
          encoding: "utf8",
        },
      ),
    );
    expect(back.attrs).toMatchObject({
      neurodata_type: "DynamicTable",
      namespace: "hdmf-common",
      description: "three rows",
    });
    expect(back.attrs.colnames).toEqual(["n", "s", "xy", "r", "g", "row"]);
    expect(back.id).toEqual([10, 20, 30]);
    expect(back.columns).toEqual({
      n: [1, -2, 3],
      s: ["α", "", "c/d"],
      xy: [
        [1, 2],
        [3, 4],
        [5, 6],
      ],
      r: [[1, 2], [], [3]],
      g: ["/b", "/a", "/b"],
      row: [1, 0, 1],
    });
    expect(back.regions).toEqual({ row: "/first" });
  });

  it("names stay unique and legal for HDF5", () => {
    expect(safeNames(["bodies/cow", "bodies:cow", ".", "bodies/cow"])).toEqual([
      "bodies:cow",
      "bodies:cow~2",
      "_.",
      "bodies:cow~3",
    ]);
  });
});

describe("clock and completeness", () => {
  it("times are seconds after the session's created time; spikes are placed at their onset", () => {
    const c = sessionClock("2024-05-17T09:30:00.000Z");
    expect(c.start).toBe("2024-05-17T09:30:00.000Z");
    expect(c.seconds(Date.parse("2024-05-17T09:30:02.500Z"))).toBe(2.5);
    const onset = Date.parse("2024-05-17T09:31:00.000Z") + 0.25;
    expect(c.spikeSeconds(onset, Math.fround(12.3))).toBe((60_000.25 + Math.fround(12.3)) / 1000);
    expect(() => sessionClock("yesterday")).toThrow(ClockError);
    expect(() => sessionClock("yesterday")).toThrow(/sessions\.created_at: got "yesterday"/);
  });

  it("a session is complete from the report step on; otherwise the reason says where it stopped", () => {
    expect(completenessOf({ state: "done", failed_reason: null }).complete).toBe(true);
    expect(completenessOf({ state: "reporting", failed_reason: null }).complete).toBe(true);
    expect(completenessOf({ state: "aborted", failed_reason: "electrode drift" })).toEqual({
      complete: false,
      state: "aborted",
      reason: "the session ended aborted (electrode drift)",
    });
    expect(completenessOf({ state: "phase1.paused", failed_reason: null }).reason).toMatch(
      /stopped in state phase1\.paused/,
    );
  });
});

describe("the cached specification", () => {
  it("a missing schema folder is explained, and nothing is cached", async () => {
    const s = locateSpecSources(join(dir, "nowhere"));
    expect(s.core).toBeNull();
    expect(s.problems[0]).toContain(join(dir, "nowhere", "core", "nwb.namespace.yaml"));
    const f = await createH5(join(dir, "nospec.h5"));
    expect(cacheSpecifications(f, s).cached).toEqual({});
    f.close();
  });

  it("a schema of another NWB version is not cached under this file's version", async () => {
    const other = join(dir, "other-schema");
    cpSync(SCHEMA, other, { recursive: true });
    const yaml = join(other, "core", "nwb.file.yaml");
    writeFileSync(yaml, readFileSync(yaml, "utf8").replace('value: "2.6.0"', 'value: "2.7.0"'));
    const f = await createH5(join(dir, "otherspec.h5"));
    const r = cacheSpecifications(f, locateSpecSources(other));
    f.close();
    expect(r.cached).toEqual({});
    expect(r.problems.join()).toMatch(/declares nwb_version "2\.7\.0"; this exporter writes 2\.6\.0/);
  });
});

const readBack = (file: string) =>
  JSON.parse(execFileSync(PYTHON, ["test/reference/nwb_read.py", file], { cwd: REPO, encoding: "utf8" })) as {
    tables: Record<string, { id: number[]; columns: Record<string, unknown[]> }>;
    images: Record<string, Array<{ name: string }>>;
    general: Record<string, { value: string; attrs: Record<string, unknown> }>;
    datasets: Record<string, string>;
  };

describe("a session with bad parts", () => {
  it("exports what it can, valid and marked incomplete: changed, missing and corrupt stimuli, unplaced data", async () => {
    const store = new SessionStore(join(dir, "bad.db"));
    const id = "bad-day";
    createDemoSession(store, id, readFileSync(join(REPO, "protocols", "demo.yaml"), "utf8"));
    store.upsertChannels(id, [
      { id: "ch1", probe: "shank/1", index: 0 },
      { id: "ch2", probe: "shank/1", index: 1 },
    ]);
    const real = join(REPO, "stimuli", "demo", "bodies", "body-cow.png");
    const changed = join(dir, "changed.png");
    copyFileSync(real, changed);
    const corrupt = join(dir, "corrupt.png");
    writeFileSync(corrupt, "not an image");
    store.insertStimuli(id, [
      {
        id: "s/good",
        setId: "s",
        category: "body",
        role: "preferred",
        path: real,
        sha256: await sha256File(real),
      },
      {
        id: "s/changed",
        setId: "s",
        category: "body",
        role: "preferred",
        path: changed,
        sha256: "0".repeat(64),
      },
      {
        id: "s/gone",
        setId: "s",
        category: "body",
        role: "preferred",
        path: join(dir, "gone.png"),
        sha256: "1".repeat(64),
      },
      {
        id: "s/corrupt",
        setId: "s",
        category: "body",
        role: "preferred",
        path: corrupt,
        sha256: await sha256File(corrupt),
      },
    ]);
    const t0 = Date.parse(store.getSession(id)!.created_at);
    const show = (trialId: number, stimulusId: string, status: "shown" | "voided" | "pending") => {
      store.recordTrial(id, { trialId, phase: 1, block: 0, stimulusId, eventCode: 10, status: "pending" });
      if (status === "shown")
        store.settleTrial(id, trialId, {
          status,
          onsetMs: t0 + 1000 * trialId,
          offsetMs: t0 + 1000 * trialId + 200,
        });
      if (status === "voided") store.settleTrial(id, trialId, { status, reason: "fixation break" });
    };
    show(1, "s/good", "shown");
    show(2, "s/changed", "shown");
    show(3, "s/gone", "shown");
    show(4, "s/corrupt", "shown");
    show(5, "s/good", "voided");
    show(6, "s/good", "pending");
    const spikes = (trialId: number) => ({
      seq: trialId,
      trialId,
      channels: [{ channelId: "ch1", counts: { response: 2 }, spikes: new Float32Array([60.5, 10]) }],
    });
    store.ingest(id, [spikes(1), spikes(2), spikes(5)]);
    store.saveSnapshot(id, "aborted", { value: "aborted" }, "stopped by the experimenter");
    const file = join(dir, "bad.nwb");
    const r = await exportSessionNwb(store, id, file, { nwbSchemaDir: SCHEMA });
    store.close();

    const v = JSON.parse(
      execFileSync(PYTHON, ["test/reference/nwb_validate.py", file, SCHEMA], { cwd: REPO, encoding: "utf8" }),
    ) as { errors: string[] };
    expect(v.errors).toEqual([]);
    expect(r.completeness).toEqual({
      complete: false,
      state: "aborted",
      reason: "the session ended aborted (stopped by the experimenter)",
    });
    const notes = r.notes.join("\n");
    expect(notes).toMatch(/no longer matches.*s\/changed/);
    expect(notes).toMatch(/no longer on disk.*s\/gone/);
    expect(notes).toMatch(/s\/corrupt could not be decoded/);
    expect(notes).toMatch(
      /1 stored spike-data message\(s\) belong to presentations that were voided or never settled/,
    );
    const back = readBack(file);
    expect(back.datasets.session_description).toMatch(/INCOMPLETE: the session ended aborted/);
    expect(back.general.notes.attrs).toMatchObject({ complete: 0, state: "aborted" });
    expect(back.images["/stimulus/templates/presented_images"].map((i) => i.name)).toEqual(["s:good"]);
    const trials = back.tables["/intervals/trials"].columns;
    expect(trials.stimulus_template).toEqual([0, -1, -1, -1, 0, 0]);
    expect(trials.status).toEqual(["shown", "shown", "shown", "shown", "voided", "pending"]);
    expect(trials.void_reason).toEqual(["", "", "", "", "fixation break", ""]);
    const units = back.tables["/units"].columns;
    // Spikes of trials 1 and 2 (shown), each presentation's ascending; trial 5 (voided) is not placed.
    expect(units.spike_times).toEqual([[1.01, 1.0605, 2.01, 2.0605], []]);
    expect(units.presentation_trial_id).toEqual([[1, 2], []]);
    expect(units.included).toEqual([-1, -1]);
    expect(back.tables["/general/extracellular_ephys/electrodes"].columns.group_name).toEqual([
      "shank:1",
      "shank:1",
    ]);
  });

  it("writes photodiode_onset once the store's trials carry one", async () => {
    const f = await createH5(join(dir, "photodiode.h5"));
    const clock = sessionClock("2024-05-17T09:30:00.000Z");
    const base = {
      phase: 1 as const,
      block: 0,
      stimulusId: "s/a",
      eventCode: 10,
      createdAt: "2024-05-17T09:30:01.000Z",
    };
    writeTrials(
      f.create_group("intervals"),
      [
        {
          ...base,
          trialId: 1,
          status: "shown",
          onsetMs: clock.t0Ms + 2000,
          offsetMs: clock.t0Ms + 2200,
          pdOnsetMs: clock.t0Ms + 2016.5,
        },
        { ...base, trialId: 2, status: "shown", onsetMs: clock.t0Ms + 3000, offsetMs: clock.t0Ms + 3200 },
      ] as Parameters<typeof writeTrials>[1],
      { voided: new Map(), states: [] },
      clock,
      new Map(),
    );
    f.close();
    const back = readBack(join(dir, "photodiode.h5"));
    expect(back.tables["/intervals/trials"].columns.photodiode_onset).toEqual([2.0165, null]);
  });
});
