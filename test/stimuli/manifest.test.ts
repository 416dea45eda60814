import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadProtocol, resolveManifest } from "../../protocols/index.ts";
import { loadManifest, ManifestError, parseManifest } from "../../stimuli/manifest.ts";

const demo = resolve("stimuli/demo");
const tmp = mkdtempSync(join(tmpdir(), "ephys-manifest-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function catchError(fn: () => unknown): ManifestError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ManifestError) return err;
    throw err;
  }
  throw new Error("expected a ManifestError");
}

describe("demo manifests", () => {
  it("load with the sizes, categories and files protocols/demo.yaml expects", () => {
    const { protocol, path } = loadProtocol("protocols/demo.yaml");
    const sizes: Record<string, number> = {};
    const ids = new Set<string>();
    for (const spec of protocol.stimulusSets) {
      const m = loadManifest(resolveManifest({ path }, spec.manifest));
      sizes[spec.id] = m.images.length;
      for (const img of m.images) {
        expect(img.category).toBe(spec.category);
        expect(img.absPath.startsWith(demo)).toBe(true);
        expect(img.sha256).toMatch(/^[0-9a-f]{64}$/);
        expect(img.license).toBe("GPL-2.0-or-later");
        expect(img.source).toMatch(/^tuxpaint-stamps-default .*: \/usr\/share\/tuxpaint\/stamps\/.+\.png$/);
        expect(ids.has(img.id)).toBe(false); // ids are unique across the day's sets
        ids.add(img.id);
      }
    }
    expect(sizes).toEqual({ bodies: 89, objects: 142, "control-bodies": 30 });
    const split = protocol.model.split;
    expect(split.train + split.validation + split.test).toBeLessThanOrEqual(sizes.bodies);
    expect(protocol.selection.retestCount).toBeLessThanOrEqual(sizes.bodies);
  });

  it("control bodies come from different source photos than the preferred bodies", () => {
    const sources = (dir: string) =>
      new Set(loadManifest(join(demo, dir, "manifest.json")).images.map((i) => i.source));
    const bodies = sources("bodies");
    for (const s of sources("control-bodies")) expect(bodies.has(s)).toBe(false);
  });
});

describe("loadManifest errors (EPHYS_BAD_MANIFEST)", () => {
  it("reports every problem at once, naming the entry index, field and value", () => {
    writeFileSync(join(tmp, "a.png"), "not really a png, but it exists");
    const file = join(tmp, "bad.json");
    writeFileSync(
      file,
      JSON.stringify({
        version: 1,
        set: "bad",
        images: [
          { id: "ok", path: "a.png", category: "body" },
          { id: "nocat", path: "a.png" },
          { id: "badsha", path: "a.png", category: "body", sha256: "XYZ" },
          { id: "abs", path: "/etc/passwd", category: "body" },
          { id: "ok", path: "missing.png", category: "body" },
          { id: "typo", path: "a.png", category: "body", colour: "red" },
        ],
      }),
    );
    const err = catchError(() => loadManifest(file));
    expect(err.code).toBe("EPHYS_BAD_MANIFEST");
    const byField = Object.fromEntries(err.problems.map((p) => [p.field, p]));
    expect(Object.keys(byField).sort()).toEqual(
      [
        "images[1].category",
        "images[2].sha256",
        "images[3].path",
        "images[4].id",
        "images[4].path",
        "images[5].colour",
      ].sort(),
    );
    expect(byField["images[1].category"]).toMatchObject({ index: 1, found: "(missing)" });
    expect(byField["images[2].sha256"]).toMatchObject({ index: 2, found: '"XYZ"' });
    expect(byField["images[2].sha256"].expected).toMatch(/64 lowercase hex/);
    expect(byField["images[3].path"]).toMatchObject({ index: 3, found: '"/etc/passwd"' });
    expect(byField["images[3].path"].expected).toMatch(/relative to the manifest/);
    expect(byField["images[4].id"].expected).toMatch(/unique id .*images\[0\]/);
    expect(byField["images[4].path"]).toMatchObject({ index: 4, found: '"missing.png"' });
    expect(byField["images[4].path"].expected).toContain(join(tmp, "missing.png"));
    expect(byField["images[5].colour"].found).toBe('unknown key "colour"');
    // The message names the file and every field.
    expect(err.message).toContain(file);
    for (const field of Object.keys(byField)) expect(err.message).toContain(field);
  });

  it("reports missing files alone when the schema is fine", () => {
    const file = join(tmp, "missing.json");
    const images = ["x.png", "y.png"].map((p, i) => ({ id: `i${i}`, path: p, category: "object" }));
    writeFileSync(file, JSON.stringify({ version: 1, set: "m", images }));
    const err = catchError(() => loadManifest(file));
    expect(err.problems.map((p) => [p.index, p.field])).toEqual([
      [0, "images[0].path"],
      [1, "images[1].path"],
    ]);
    expect(loadManifest(file, { checkFiles: false }).images.map((i) => i.absPath)).toEqual([
      join(tmp, "x.png"),
      join(tmp, "y.png"),
    ]);
  });

  it("rejects invalid JSON, a wrong version, a non-array and an unreadable file", () => {
    expect(catchError(() => parseManifest("{ nope", join(tmp, "x.json"))).problems[0]).toMatchObject({
      field: "(document)",
      found: "invalid JSON",
    });
    const v2 = catchError(() =>
      parseManifest(JSON.stringify({ version: 2, set: "s", images: [] }), "v.json"),
    );
    expect(v2.problems.map((p) => [p.field, p.found])).toEqual([
      ["version", "2"],
      ["images", "[]"],
    ]);
    const notArray = catchError(() =>
      parseManifest(JSON.stringify({ version: 1, set: "s", images: {} }), "n.json"),
    );
    expect(notArray.problems[0].field).toBe("images");
    const gone = catchError(() => loadManifest(join(tmp, "does-not-exist.json")));
    expect(gone.code).toBe("EPHYS_BAD_MANIFEST");
    expect(gone.message).toContain("does-not-exist.json");
  });
});
