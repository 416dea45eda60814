import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { HashMismatchError, hashStimulusSet, setDigest, sha256File } from "../../stimuli/hash.ts";
import { loadManifest } from "../../stimuli/manifest.ts";

const tmp = mkdtempSync(join(tmpdir(), "ephys-hash-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** coreutils sha256sum: the independent reference. */
function sha256sum(files: string[]): string[] {
  const out = execFileSync("sha256sum", files, { encoding: "utf8" });
  return out
    .trim()
    .split("\n")
    .map((l) => l.split(/\s+/)[0]);
}

async function expectMismatch(p: Promise<unknown>): Promise<HashMismatchError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof HashMismatchError) return err;
    throw err;
  }
  throw new Error("expected a HashMismatchError");
}

/** A three-image copy of the demo bodies with its own manifest. */
function smallSet(dir: string): string {
  const demo = loadManifest(resolve("stimuli/demo/bodies/manifest.json"));
  const images = demo.images.slice(0, 3).map((img) => {
    copyFileSync(img.absPath, join(tmp, `${dir}-${img.path}`));
    return { id: img.id, path: `${dir}-${img.path}`, category: img.category, sha256: img.sha256 };
  });
  const file = join(tmp, `${dir}.json`);
  writeFileSync(file, JSON.stringify({ version: 1, set: dir, images }));
  return file;
}

describe("sha256File", () => {
  it("matches sha256sum on a multi-chunk file and on a demo image", async () => {
    const big = join(tmp, "big.bin");
    const bytes = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
    writeFileSync(big, bytes);
    const demo = resolve("stimuli/demo/objects/object-kettle.png");
    expect([await sha256File(big), await sha256File(demo)]).toEqual(sha256sum([big, demo]));
  });

  it("rejects for a missing file", async () => {
    await expect(sha256File(join(tmp, "nope"))).rejects.toMatchObject({ code: "ENOENT" });
  });
});

describe("hashStimulusSet", () => {
  it("hashes the demo bodies to the manifest's recorded sums, with absolute paths", async () => {
    const set = await hashStimulusSet("stimuli/demo/bodies/manifest.json");
    expect(set.set).toBe("demo-bodies");
    expect(set.images).toHaveLength(89);
    expect(set.images.map((i) => i.sha256)).toEqual(sha256sum(set.images.map((i) => i.path)));
    for (const img of set.images) expect(img.path.startsWith(resolve("stimuli/demo/bodies/"))).toBe(true);
    expect(set.digest).toMatch(/^[0-9a-f]{64}$/);
    // The digest does not depend on entry order.
    expect(setDigest([...set.images].reverse())).toBe(set.digest);
  });

  it("names the file whose recorded sha256 was tampered with", async () => {
    const file = smallSet("tampered-manifest");
    const json = JSON.parse(readFileSync(file, "utf8"));
    const victim = json.images[1];
    const recorded = victim.sha256;
    victim.sha256 = (recorded[0] === "0" ? "1" : "0") + recorded.slice(1);
    writeFileSync(file, JSON.stringify(json));
    const err = await expectMismatch(hashStimulusSet(file));
    expect(err.code).toBe("EPHYS_HASH_MISMATCH");
    expect(err.mismatches).toEqual([
      { id: victim.id, path: join(tmp, victim.path), recorded: victim.sha256, actual: recorded },
    ]);
    expect(err.message).toContain(join(tmp, victim.path));
  });

  it("names the file whose bytes changed, and the digest changes with them", async () => {
    const file = smallSet("tampered-file");
    const before = await hashStimulusSet(file);
    const json = JSON.parse(readFileSync(file, "utf8"));
    const target = join(tmp, json.images[2].path);
    const bytes = readFileSync(target);
    bytes[bytes.length - 20] ^= 0xff;
    writeFileSync(target, bytes);
    const err = await expectMismatch(hashStimulusSet(file));
    expect(err.mismatches.map((m) => m.path)).toEqual([target]);
    // Without recorded sums the set hashes, to a different digest.
    for (const img of json.images) delete img.sha256;
    writeFileSync(file, JSON.stringify(json));
    const after = await hashStimulusSet(file);
    expect(after.digest).not.toBe(before.digest);
    expect(after.images[2].sha256).toBe(sha256sum([target])[0]);
  });

  it("rejects a bad manifest with EPHYS_BAD_MANIFEST before hashing", async () => {
    const file = join(tmp, "bad.json");
    writeFileSync(
      file,
      JSON.stringify({ version: 1, set: "b", images: [{ id: "a", path: "gone.png", category: "x" }] }),
    );
    await expect(hashStimulusSet(file)).rejects.toMatchObject({ code: "EPHYS_BAD_MANIFEST" });
  });
});
