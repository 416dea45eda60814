// `npm start -- --acquisition openephys` as a lab runs it, on a short day: the demo process holds the daemon and the
// rig box (in-memory cable), its simulate child publishes the neurons as an Event Broadcaster with the box's words
// coming over IPC, and the real `ephysloop bridge openephys` runs between them. Checked from the session's store:
// the day is done, every shown trial has its data with its onset from the photodiode, 12 ms after its word (the
// emulator's default), no EPHYS_BRIDGE_NO_PHOTODIODE notice, and the neurons answered the stimuli (response window
// rate well above baseline). The demo used to log "no photodiode" for every trial, with the neurons at baseline.
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { simulatedProtocol } from "./simulated-day.ts";

describe("npm start -- --acquisition openephys", () => {
  it("runs the day through emulator → bridge → daemon with photodiode onsets and responding neurons", async () => {
    const root = mkdtempSync(join(tmpdir(), "ephys-oe-demo-"));
    // The short day of demo.int.test.ts at the demo's own speed (timeScale 0.02, 50× real time).
    const protocolPath = simulatedProtocol(root, {
      repetitions: 2,
      channels: 4,
      simulation: ["neurons: thumbnail"],
      replace: [
        ["timeScale: 0.01", "timeScale: 0.02"],
        ["phase2:\n  repetitions: 6", "phase2:\n  repetitions: 2"],
        ["epochs: 300", "epochs: 60"],
        ["epsilon: 0.05", "epsilon: 0.2"],
      ],
    });
    const dataDir = join(root, "data");
    const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(
        process.execPath,
        ["bin/ephysloop.mjs", "demo", "--protocol", protocolPath, "--acquisition", "openephys"],
        { env: { ...process.env, EPHYSLOOP_DATA_DIR: dataDir }, stdio: ["ignore", "pipe", "pipe"] },
      );
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => {
        stdout += d;
      });
      child.stderr.on("data", (d) => {
        stderr += d;
      });
      child.on("exit", (code) => resolve({ code, stdout, stderr }));
    });
    expect(run.code, run.stderr.slice(-3000)).toBe(0);
    expect(run.stdout).toMatch(/session \S+: done/);

    const d = new Database(join(dataDir, "ephysloop.db"), { readonly: true });
    const shown = (
      d.prepare("SELECT trial_id FROM trials WHERE status = 'shown'").all() as Array<{ trial_id: number }>
    ).map((r) => r.trial_id);
    const onsets = new Map(
      (
        d
          .prepare("SELECT trial_id, source, photodiode_minus_event_ms AS delta FROM trial_onsets")
          .all() as Array<{ trial_id: number; source: string; delta: number | null }>
      ).map((o) => [o.trial_id, o]),
    );
    const rows = d.prepare("SELECT trial_id, counts, n_channels FROM trial_data").all() as Array<{
      trial_id: number;
      counts: Buffer;
      n_channels: number;
    }>;
    const alerts = (
      d.prepare("SELECT content FROM events WHERE type = 'alert' AND subtype = 'bridge'").all() as Array<{
        content: string;
      }>
    ).map((e) => JSON.parse(e.content) as { code: string; message: string });
    d.close();

    expect(shown.length).toBeGreaterThan(100);
    const withData = new Set(rows.map((r) => r.trial_id));
    for (const id of shown) {
      expect(withData.has(id), `trial ${id} has no data`).toBe(true);
      expect(onsets.get(id), `trial ${id}`).toMatchObject({ source: "photodiode", delta: 12 });
    }
    expect(alerts.filter((a) => a.code === "EPHYS_BRIDGE_NO_PHOTODIODE")).toEqual([]);
    // The neurons answered: spikes/s in the response window (50..250 ms) against the baseline window (−75..25 ms).
    let baseline = 0;
    let response = 0;
    let n = 0;
    for (const r of rows) {
      const c = new Uint32Array(r.counts.buffer, r.counts.byteOffset, r.counts.byteLength / 4);
      for (let k = 0; k < r.n_channels; k++) {
        baseline += c[2 * k];
        response += c[2 * k + 1];
        n++;
      }
    }
    const baselineRate = baseline / n / 0.1;
    const responseRate = response / n / 0.2;
    expect(baselineRate).toBeGreaterThan(4); // the protocol's 8 spikes/s
    expect(baselineRate).toBeLessThan(16);
    expect(responseRate).toBeGreaterThan(2 * baselineRate);
  }, 600_000);
});
