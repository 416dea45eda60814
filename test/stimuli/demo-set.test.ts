import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

// Rebuilding the demo set from the installed Debian package (/usr/share/tuxpaint/stamps, test/system-deps.sh)
// must give the committed files bit for bit.
const tmp = mkdtempSync(join(tmpdir(), "ephys-demo-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("stimuli/demo/build-demo-set.ts", () => {
  it("reproduces the committed manifests (ids, sources and sha256) and attribution", () => {
    execFileSync(
      process.execPath,
      ["--import", "tsx", resolve("stimuli/demo/build-demo-set.ts"), "--out", tmp],
      {
        stdio: "pipe",
      },
    );
    for (const set of ["bodies", "objects", "control-bodies"]) {
      const built = readFileSync(join(tmp, set, "manifest.json"), "utf8");
      const committed = readFileSync(resolve("stimuli/demo", set, "manifest.json"), "utf8");
      expect(JSON.parse(built)).toEqual(JSON.parse(committed));
    }
    expect(readFileSync(join(tmp, "ATTRIBUTION.md"), "utf8")).toBe(
      readFileSync(resolve("stimuli/demo/ATTRIBUTION.md"), "utf8"),
    );
  });
});
