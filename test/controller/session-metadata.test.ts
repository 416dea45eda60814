// Where a session recorded (subject, rig, probe, depth, region): `serve`'s flags checked with errors that name the
// flag, stored with a new session in a real SQLite file, and a version 7 file opened with the new columns empty.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { sessionMetadata } from "../../controller/commands/serve.ts";
import { migrations } from "../../controller/store/migrations.ts";
import { SessionStore } from "../../controller/store/store.ts";

const dbFile = () => join(mkdtempSync(join(tmpdir(), "ephys-meta-")), "ephysloop.db");

describe("session metadata", () => {
  it("takes the flags given, trimmed, the depth as a number of µm", () => {
    expect(
      sessionMetadata({
        subject: " M1 ",
        rig: "rig-A",
        probe: "Neuropixels 1.0 #18194823132",
        depthUm: "3150.5",
        region: "MSB",
      }),
    ).toEqual({
      subject: "M1",
      rig: "rig-A",
      probe: "Neuropixels 1.0 #18194823132",
      depthUm: 3150.5,
      region: "MSB",
    });
    expect(sessionMetadata({ subject: "", probe: "  " })).toEqual({});
  });

  it("refuses a depth that is not a number of µm ≥ 0, naming the flag (EPHYS_BAD_OPTION)", () => {
    for (const bad of ["deep", "-20", "", "Infinity"])
      expect(() => sessionMetadata({ depthUm: bad }), bad).toThrow(
        expect.objectContaining({
          code: "EPHYS_BAD_OPTION",
          message: `--depth-um: got ${JSON.stringify(bad)}, expected the probe's depth in µm, a number ≥ 0`,
        }),
      );
  });

  it("`ephysloop serve --depth-um deep` stops before starting anything, with the error", () => {
    const dataDir = mkdtempSync(join(tmpdir(), "ephys-meta-cli-"));
    const bin = new URL("../../bin/ephysloop.mjs", import.meta.url).pathname;
    const r = spawnSync(process.execPath, [bin, "serve", "--depth-um", "deep", "--data-dir", dataDir], {
      encoding: "utf8",
      env: { ...process.env, EPHYSLOOP_CONFIG: "" },
      timeout: 60_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('error EPHYS_BAD_OPTION: --depth-um: got "deep", expected');
    expect(readdirSync(dataDir)).toEqual([]); // no database, no token: nothing started
  });

  it("is stored with a new session", () => {
    const store = new SessionStore(dbFile());
    const row = store.createSession({
      id: "s",
      protocolName: "p",
      protocolPath: "/p.yaml",
      protocolText: "p",
      protocolSha256: "0".repeat(64),
      codeVersion: "v",
      software: {},
      seed: 1,
      ...sessionMetadata({ subject: "M1", rig: "rig-A", probe: "NP #1", depthUm: "3150", region: "MSB" }),
    });
    expect([row.subject, row.rig, row.probe, row.depth_um, row.region]).toEqual([
      "M1",
      "rig-A",
      "NP #1",
      3150,
      "MSB",
    ]);
    store.close();
  });

  it("opens a version 7 file with its sessions kept and probe, depth and region empty", () => {
    const path = dbFile();
    const raw = new Database(path);
    for (const m of migrations.filter((m) => m.version <= 7)) {
      raw.exec(m.sql);
      m.run?.(raw);
    }
    raw.pragma("user_version = 7");
    raw
      .prepare(
        `INSERT INTO sessions (id, created_at, protocol_name, protocol_path, protocol_text, protocol_sha256,
         code_version, software, seed, subject, state) VALUES ('old', 'x', 'p', 'p', 'p', 'h', 'v', '{}', 1, 'M1', 'done')`,
      )
      .run();
    raw.close();
    const store = new SessionStore(path);
    expect(store.db.pragma("user_version", { simple: true })).toBe(8);
    const row = store.getSession("old")!;
    expect([row.subject, row.probe, row.depth_um, row.region]).toEqual(["M1", null, null, null]);
    store.close();
  });
});
