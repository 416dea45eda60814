// `ephysloop features` as a real process: --out writes a .npy that numpy (when present) and our reader load, with
// the extractor's values; a DIR and a PROTOCOL are cached under <data dir>/features and a second run only reads.
import { execFile, spawnSync } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { createFeatureExtractor } from "../../analysis/features/extract.ts";
import { readNpy } from "../../analysis/features/npy.ts";
import { loadImageRGB } from "../../stimuli/image.ts";
import { relativeError } from "../analysis/backbone-fixtures.ts";

const run = promisify(execFile);
const REPO = join(import.meta.dirname, "..", "..");
const WEIGHTS = join(REPO, "test", "fixtures", "backbone", "resnet18-w8.safetensors");
const BODIES = join(REPO, "stimuli", "demo", "bodies");
const IMAGES = ["body-bear.png", "body-cow.png", "body-dog.png"].map((f) => join(BODIES, f));
const PYTHON = "/usr/bin/python3";
const tmp = mkdtempSync(join(tmpdir(), "features-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The environment without EPHYSLOOP_* settings, so only the flags count. */
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("EPHYSLOOP_")));

async function ephysloop(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run("node", [join(REPO, "bin", "ephysloop.mjs"), "features", ...args], {
      cwd: tmp,
      env,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const common = ["--weights", WEIGHTS, "--arch", "resnet18", "--variant", "torchvision", "--executor", "auto"];

describe("ephysloop features", () => {
  it("--out writes float32 [images, 7, 7, 64] (.npy v1.0) equal to the extractor's features", async () => {
    const out = join(tmp, "feats.npy");
    const res = await ephysloop([
      ...common,
      "--layer",
      "layer4.1",
      "--data-dir",
      join(tmp, "data-npy"),
      "--out",
      out,
      ...IMAGES,
    ]);
    expect(res.stderr).toContain("resnet18/torchvision layer4.1 at 224 px → [7, 7, 64]");
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(`${out}: float32 [3, 7, 7, 64]`);
    const bytes = readFileSync(out);
    expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]));
    const npy = await readNpy(out);
    expect(npy.shape).toEqual([3, 7, 7, 64]);
    expect(readdirSync(tmp).some((f) => f.startsWith("data-npy"))).toBe(false); // --out caches nothing

    const extractor = await createFeatureExtractor({
      arch: "resnet18",
      variant: "torchvision",
      layer: "layer4.1",
      weightsPath: WEIGHTS,
      threads: 2,
    });
    try {
      const per = 7 * 7 * 64;
      for (const [i, path] of IMAGES.entries()) {
        const direct = await extractor.extract((await loadImageRGB(path, 224)).data, 1, 224);
        expect(relativeError(npy.data.subarray(i * per, (i + 1) * per), direct.data)).toBeLessThan(1e-5);
      }
    } finally {
      await extractor.dispose();
    }

    {
      const raw = join(tmp, "feats.raw");
      const py = spawnSync(PYTHON, [
        "-c",
        "import sys, json, numpy as np; a = np.load(sys.argv[1]); a.tofile(sys.argv[2]);" +
          " print(json.dumps([a.dtype.str, list(a.shape), bool(a.flags.c_contiguous)]))",
        out,
        raw,
      ]);
      expect(py.status).toBe(0);
      expect(JSON.parse(py.stdout.toString())).toEqual(["<f4", [3, 7, 7, 64], true]);
      expect(readFileSync(raw).equals(Buffer.from(npy.data.buffer))).toBe(true);
    }
  });

  it("a DIR is cached under <data dir>/features; the second run reads every entry", async () => {
    const dir = join(tmp, "images");
    mkdirSync(dir);
    for (const p of IMAGES.slice(0, 2)) copyFileSync(p, join(dir, p.split("/").at(-1)!));
    writeFileSync(join(dir, "notes.txt"), "not an image");
    const data = join(tmp, "data-dir");
    const args = [...common, "--layer", "layer3.1", "--size", "64", "--data-dir", data, dir];
    const first = await ephysloop(args);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^2 images: 0 cached, 2 computed → .*-resnet18-torchvision-layer3.1-64\n$/);
    const second = await ephysloop(args);
    expect(second.stdout).toMatch(/^2 images: 2 cached, 0 computed/);
    const [folder] = readdirSync(join(data, "features"));
    expect(readdirSync(join(data, "features", folder)).filter((f) => f.endsWith(".f16"))).toHaveLength(2);
  });

  it("a PROTOCOL's sets are computed with its model", async () => {
    const dir = join(tmp, "proto");
    mkdirSync(join(dir, "set"), { recursive: true });
    const entries = IMAGES.map((p) => {
      const name = p.split("/").at(-1)!;
      copyFileSync(p, join(dir, "set", name));
      return { id: name.replace(".png", ""), path: name, category: "body" };
    });
    writeFileSync(
      join(dir, "set", "manifest.json"),
      JSON.stringify({ version: 1, set: "three", images: entries }),
    );
    const demo = readFileSync(join(REPO, "protocols", "demo.yaml"), "utf8");
    const protocol = demo
      .replace(
        /stimulusSets:[\s\S]*?\n\n/,
        "stimulusSets:\n  - id: bodies\n    manifest: set/manifest.json\n    category: body\n    role: preferred\n\n",
      )
      .replace("backbone: resnet50", "backbone: resnet18")
      .replace("variant: keras", "variant: torchvision")
      .replace("imageSize: 224", "imageSize: 64");
    writeFileSync(join(dir, "p.yaml"), protocol);
    const res = await ephysloop([
      "--weights",
      WEIGHTS,
      "--data-dir",
      join(tmp, "data-proto"),
      join(dir, "p.yaml"),
    ]);
    expect(res.stderr).toContain("3 images, resnet18/torchvision layer4.1 at 64 px → [2, 2, 64]");
    expect(res.stdout).toMatch(/^3 images: 0 cached, 3 computed → .*-resnet18-torchvision-layer4.1-64\n$/);
  });

  it("bad input: one line with a stable code, exit status 1", async () => {
    const noFile = await ephysloop(["--data-dir", join(tmp, "d"), join(tmp, "missing.yaml")]);
    expect(noFile.code).toBe(1);
    expect(noFile.stderr).toMatch(
      /missing\.yaml: no such protocol file or folder \(EPHYS_BAD_FEATURES_COMMAND\)/,
    );
    const notNpy = await ephysloop(["--out", join(tmp, "x.bin"), IMAGES[0]]);
    expect(notNpy.stderr).toMatch(/--out: got .*x\.bin", expected a file name ending in \.npy/);
    const torchNoWeights = await ephysloop([
      "--variant",
      "torchvision",
      "--out",
      join(tmp, "y.npy"),
      IMAGES[0],
    ]);
    expect(torchNoWeights.code).toBe(1);
    expect(torchNoWeights.stderr).toMatch(
      /expected arch resnet50 with variant keras .*\(EPHYS_BAD_WEIGHTS\)/,
    );
  });
});
