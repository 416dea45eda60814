// `ephysloop concepts SESSION` as a real process on a small stored session (SQLite file, the w8 ResNet-18 fixture
// at 64 px, layer3.1 → 4 × 4 cells, six demo stimuli, three channels' readouts): the worker writes the concept maps
// and tables, the folder becomes a "concepts" artifact, and the session report shows it. An unknown session and a
// session without readouts are refused with a coded error.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import sharp from "sharp";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../config/index.ts";
import { CONCEPT_FILES, type ConceptSummary } from "../../controller/compute/concepts-job.ts";
import { writeSessionReport } from "../../controller/day/steps/report.ts";
import { SessionStore } from "../../controller/store/store.ts";
import {
  createDemoSession,
  insertDemoStimuli,
  REPO,
  saveReadouts,
  smallDemoProtocol,
  W8_RESNET18,
} from "../controller/stored-session.ts";

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "concepts-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("EPHYSLOOP_")));

const protocolText = smallDemoProtocol().replace("layer: layer4.1", "layer: layer3.1");
const CHANNELS = ["ch1", "ch2", "ch3"];

async function makeSession(sessionId: string, withReadouts: boolean) {
  const store = new SessionStore(join(dir, "ephysloop.db"));
  createDemoSession(store, sessionId, protocolText);
  await insertDemoStimuli(store, sessionId, [
    ["objects", "object-basketball", "object"],
    ["objects", "object-beetle", "object"],
    ["objects", "object-binoculars", "object"],
    ["bodies", "body-bear", "preferred"],
    ["bodies", "body-bison", "preferred"],
    ["bodies", "body-camel", "preferred"],
  ]);
  store.upsertChannels(
    sessionId,
    CHANNELS.map((id, index) => ({ id, probe: "A", index })),
  );
  if (withReadouts)
    saveReadouts(
      store,
      sessionId,
      CHANNELS.map((channelId, j) => ({
        channelId,
        location: [0, 0],
        sigma: [0.1, 0.1],
        weights: Array.from({ length: 32 }, (_, i) => Math.sin((j + 2) * i + j)),
        bias: j,
        bestEpoch: 0,
        valLossCurve: [1],
        testR: 0.5,
      })),
    );
  store.close();
}

const cli = (...args: string[]) =>
  run(
    "node",
    [
      join(REPO, "bin", "ephysloop.mjs"),
      "concepts",
      ...args,
      "--data-dir",
      dir,
      "--weights",
      W8_RESNET18,
      "--backend",
      "wasm",
    ],
    { cwd: dir, env },
  );

describe("ephysloop concepts", () => {
  it("writes concept maps and tables, stores the artifact, and the report shows them", async () => {
    await makeSession("s1", true);
    const { stdout } = await cli("s1", "--concepts", "3", "--montage", "4");
    expect(stdout).toMatch(/96 nodes \(6 images × 4×4\) in the space of 3 channels; exact/);
    const out = join(dir, "sessions", "s1", "concepts");
    expect(stdout).toContain(`concepts: ${out}`);
    const summary = JSON.parse(readFileSync(join(out, CONCEPT_FILES.clusters), "utf8")) as ConceptSummary;
    expect(summary).toMatchObject({ images: 6, nodes: 96, grid: [4, 4], channels: 3 });
    expect(summary.settings).toMatchObject({ k: 10, m: 96, exact: true, reduce: "umap", concepts: 3 });
    expect(summary.eigenvalues[0]).toBeCloseTo(1, 9);
    expect(summary.concepts.map((c) => c.nodes).reduce((a, b) => a + b, 0)).toBe(96);
    expect(summary.channelTable.map((c) => c.channelId)).toEqual(CHANNELS);
    for (const c of summary.channelTable) {
      expect(c.distribution.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
      expect(summary.concepts[c.dominant].channels).toContain(c.channelId);
    }
    expect(summary.channelClusters.flatMap((g) => g.channels).sort()).toEqual(CHANNELS);
    // One PNG per image (image | map, 112 px tiles, 4 px gutter) and a montage of the first 4 pairs.
    const maps = readdirSync(join(out, CONCEPT_FILES.maps)).sort();
    expect(maps).toHaveLength(6);
    expect(maps[0]).toBe("0000_objects_object-basketball.png");
    const pair = await sharp(join(out, CONCEPT_FILES.maps, maps[0])).metadata();
    expect([pair.width, pair.height]).toEqual([228, 112]);
    const montage = await sharp(join(out, CONCEPT_FILES.montage)).metadata();
    expect([montage.width, montage.height]).toEqual([8 * 112 + 7 * 4, 112]);
    // The map half of a pair is the 4 × 4 concept map blown up: constant over each 28 × 28 block.
    const raw = await sharp(join(out, CONCEPT_FILES.maps, maps[0]))
      .raw()
      .toBuffer();
    const px = (x: number, y: number) => Array.from(raw.subarray((y * 228 + x) * 3, (y * 228 + x) * 3 + 3));
    expect(px(116, 0)).toEqual(px(116 + 27, 27));
    expect(readFileSync(join(out, CONCEPT_FILES.channels), "utf8").split("\n")[0]).toBe(
      "channel,dominant_concept,share_0,share_1,share_2,lift_0,lift_1,lift_2,top_images",
    );
    expect(existsSync(join(out, CONCEPT_FILES.concepts))).toBe(true);

    const store = new SessionStore(join(dir, "ephysloop.db"));
    try {
      const artifacts = store.artifacts("s1", "concepts");
      expect(artifacts).toHaveLength(1);
      expect(artifacts[0].path).toBe(out);
      expect(artifacts[0].meta).toMatchObject({ nodes: 96, channels: 3, exact: true });
      const config = loadConfig({ env: {}, flags: { dataDir: dir, "weights.path": W8_RESNET18 } });
      const report = await writeSessionReport(store, "s1", { config });
      const html = readFileSync(report.path, "utf8");
      expect(html).toContain('id="concepts"');
      expect(html).toContain("Concept maps");
      for (const ch of CHANNELS) expect(html).toContain(`<td>${ch}</td>`);
    } finally {
      store.close();
    }
  }, 120_000);

  it("refuses an unknown session and a session without readouts, with the code", async () => {
    const missing = await cli("nope").catch((e) => e);
    expect(missing.code).toBe(1);
    expect(String(missing.stderr)).toMatch(/EPHYS_BAD_CONCEPTS_COMMAND: SESSION: no session "nope"/);
    await makeSession("s2", false);
    const bare = await cli("s2").catch((e) => e);
    expect(String(bare.stderr)).toMatch(/s2 has no fitted readouts/);
    const badFlag = await cli("s1", "--m", "1").catch((e) => e);
    expect(String(badFlag.stderr)).toMatch(/--m: got "1", expected a whole number ≥ 2/);
  }, 60_000);
});
