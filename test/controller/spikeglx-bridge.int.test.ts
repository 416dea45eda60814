// A simulated day through the whole SpikeGLX chain: virtual rig box → a Neuropixels rig's continuous streams (AP band
// with spike waveforms on noise; the NI stream's digital word with the event words and the photodiode, on its own
// clock) → the emulated Remote Command API (TCP) → `ephysloop bridge spikeglx` (a real child process: online
// detection) → daemon (a real child process). A bridge kill -9 in the middle. Checked from the stored data: every
// trial with data was paired with its own presentation (event code, stimulus, the photodiode's onset mapped onto the
// imec clock), and the stored spike times are the synthesized spikes: hit rate and false positives stated.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { type RunningSimulation, startSimulation } from "../../controller/simulate/run.ts";
import { IMEC_RATE, spikeGlxRigChannelMap } from "../../controller/simulate/spikeglx-rig.ts";
import { freePort, simulatedProtocol, waitFor } from "./simulated-day.ts";

let children: ChildProcess[] = [];
let sim: RunningSimulation | undefined;
afterEach(async () => {
  for (const c of children) c.kill("SIGKILL");
  children = [];
  await sim?.stop();
  sim = undefined;
});

const CHANNELS = 8;
const TIME_SCALE = 0.1; // the acquisition clock runs 10× real time: 300 k AP samples per wall second

describe("SpikeGLX bridge, end to end", () => {
  it("detects the synthesized spikes, pairs every onset with its own trial, and survives a bridge kill -9", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ephys-sglx-"));
    const protocolPath = simulatedProtocol(dir, {
      repetitions: 2,
      channels: CHANNELS,
      simulation: ["neurons: thumbnail"],
      replace: [["timeScale: 0.01", `timeScale: ${TIME_SCALE}`]], // the test day runs at 0.01
    });
    const [port, sglxPort] = [await freePort(), await freePort()];
    const hostPath = join(dir, "box-host");
    const token = "spikeglx-test-token-0123456789";
    const db = join(dir, "ephysloop.db");
    const mapFile = join(dir, "channels.yaml");
    // No common reference: on 8 channels driven together the median moves with their spikes (docs/spikeglx.md).
    writeFileSync(mapFile, spikeGlxRigChannelMap(CHANNELS, ["noiseWindowMs: 500", "car: none"]));
    const outbox = join(dir, "outbox.db");
    const errs = new Map<ChildProcess, string>();
    const spawnNode = (args: string[]) => {
      const child = spawn(process.execPath, ["bin/ephysloop.mjs", ...args], {
        stdio: ["ignore", "ignore", "pipe"],
      });
      errs.set(child, "");
      child.stderr?.on("data", (d) => errs.set(child, errs.get(child) + String(d)));
      children.push(child);
      return child;
    };
    const bridge = () =>
      spawnNode([
        "bridge",
        "spikeglx",
        ...["--port", String(sglxPort), "--url", `ws://127.0.0.1:${port}`, "--token", token],
        ...["--channels", mapFile, "--outbox", outbox],
      ]);
    const query = <T>(sql: string): T[] => {
      try {
        const d = new Database(db, { readonly: true, fileMustExist: true });
        const rows = d.prepare(sql).all() as T[];
        d.close();
        return rows;
      } catch {
        return [];
      }
    };
    const stored = () => query<{ n: number }>("SELECT COUNT(*) AS n FROM trial_data")[0]?.n ?? 0;

    spawnNode([
      "serve",
      ...["--data-dir", dir, "--port", String(port), "--token", token, "--serial", hostPath],
      ...["--time-scale", String(TIME_SCALE), "--log-level", "warn", "--protocol", protocolPath],
    ]);
    sim = await startSimulation({
      url: `ws://127.0.0.1:${port}`,
      token,
      protocolPath,
      hostPath,
      boxPath: join(dir, "box"),
      acquisition: "spikeglx",
      spikeglx: { port: sglxPort },
    });
    const rig = sim.spikeglx!.rig;
    let first = bridge();
    await waitFor("15 trials stored", () => stored() >= 15, 90_000).catch((e) => {
      console.log(errs.get(first)?.slice(-3000));
      throw e;
    });
    first.kill("SIGKILL");
    await new Promise((r) => first.once("exit", r));
    first = bridge();
    await waitFor("40 trials stored after the restart", () => stored() >= 40, 90_000).catch((e) => {
      console.log(errs.get(first)?.slice(-3000));
      throw e;
    });

    // The bridge's view first, the daemon's after (one read snapshot): acked trials must all be stored.
    const ob = new Database(outbox, { readonly: true });
    const kept = new Set(
      (ob.prepare("SELECT trial_id FROM outbox").all() as Array<{ trial_id: number }>).map((r) => r.trial_id),
    );
    const acked = (
      ob.prepare("SELECT trial_id FROM trials WHERE outcome = 'sent'").all() as Array<{ trial_id: number }>
    )
      .map((r) => r.trial_id)
      .filter((id) => !kept.has(id));
    ob.close();
    const d = new Database(db, { readonly: true });
    d.exec("BEGIN");
    const trials = new Map(
      (
        d.prepare("SELECT trial_id, stimulus_id, event_code FROM trials").all() as Array<{
          trial_id: number;
          stimulus_id: string;
          event_code: number;
        }>
      ).map((t) => [t.trial_id, t]),
    );
    const onsets = d
      .prepare("SELECT trial_id, source, sample, photodiode_minus_event_ms AS delta FROM trial_onsets")
      .all() as Array<{ trial_id: number; source: string; sample: number; delta: number | null }>;
    const spikeRows = d
      .prepare(
        `SELECT t.trial_id, t.offsets, t.spikes, c.channels FROM trial_data t JOIN channel_sets c
           ON c.session_id = t.session_id AND c.id = t.channel_set`,
      )
      .all() as Array<{ trial_id: number; offsets: Buffer; spikes: Buffer; channels: string }>;
    const perTrial = d
      .prepare("SELECT trial_id, COUNT(*) AS n FROM acquisition_messages GROUP BY trial_id HAVING n > 1")
      .all();
    d.exec("COMMIT");
    d.close();

    expect(acked.length).toBeGreaterThan(20);
    const onsetOf = new Map(onsets.map((o) => [o.trial_id, o]));
    for (const id of acked) expect(onsetOf.has(id), `trial ${id} acked but not stored`).toBe(true);
    expect(perTrial).toHaveLength(0);

    // Paired with its own presentation: the photodiode onset on the imec clock is that presentation's, within a
    // sample of the NI → imec mapping.
    const byPd = rig.presentations.filter((p) => p.stimulusId !== null);
    for (const o of onsets) {
      expect(o.source).toBe("photodiode");
      const p = byPd.find((x) => Math.abs(x.photodiodeImecSample - o.sample) <= 2);
      expect(
        p,
        `trial ${o.trial_id}: no presentation with its photodiode onset at imec sample ${o.sample}`,
      ).toBeDefined();
      const t = trials.get(o.trial_id)!;
      expect(p!.code).toBe(t.event_code);
      expect(p!.stimulusId).toBe(t.stimulus_id);
    }

    // Stored spike times against the synthesized ones, per channel, within each trial's window.
    let hits = 0;
    let truthN = 0;
    let detected = 0;
    for (const row of spikeRows) {
      const o = onsetOf.get(row.trial_id);
      if (!o) continue;
      const ids = JSON.parse(row.channels) as string[];
      // The stored rows (migrations.ts): offsets uint32 LE [n + 1], spike times float64 LE, ms from the onset.
      const copy = (b: Buffer) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
      const offsets = new Uint32Array(copy(row.offsets));
      const all = new Float64Array(copy(row.spikes));
      const times = ids.map((_, c) => Array.from(all.subarray(offsets[c], offsets[c + 1])));
      ids.forEach((id, c) => {
        const ch = Number(id.slice(2)) - 1;
        // The window the bridge sends: −preMs..+postMs around the onset; compare inside −50..+300 ms.
        const truth = rig.spikes[ch]
          .map((s) => ((s - o.sample) * 1000) / IMEC_RATE)
          .filter((ms) => ms >= -50 && ms < 300);
        const got = times[c].filter((ms) => ms >= -50 && ms < 300);
        truthN += truth.length;
        detected += got.length;
        const used = new Set<number>();
        for (const t of truth) {
          const j = got.findIndex((g, k) => !used.has(k) && Math.abs(g - t) <= 0.5);
          if (j >= 0) {
            used.add(j);
            hits++;
          }
        }
      });
    }
    const hitRate = hits / truthN;
    const falsePerS = (detected - hits) / (spikeRows.length * CHANNELS * 0.35);
    console.log(
      `spikeglx: ${spikeRows.length} trials, ${truthN} synthesized spikes in −50..300 ms, ${detected} stored; ` +
        `hit rate ${(100 * hitRate).toFixed(1)} % (±0.5 ms), false positives ${falsePerS.toFixed(2)} per channel-second`,
    );
    expect(truthN).toBeGreaterThan(200);
    expect(hitRate).toBeGreaterThan(0.9);
    // Measured: hit rate 93.5–94.2 % (the misses: spikes closer than the refractory period and overlapping
    // waveforms at the driven rates), false positives 0.05 per channel-second without a common reference; with the
    // median reference over these 8 channels, whose neurons all fire together after each onset, 2.7 (the median
    // moves with their spikes: docs/spikeglx.md).
    expect(falsePerS).toBeLessThan(0.5);
  }, 240_000);
});
