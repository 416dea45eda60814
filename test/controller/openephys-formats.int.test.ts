// The Open Ephys chain end to end in the formats and wirings the fault-injection suite (openephys-bridge.int.test.ts,
// JSON, plain word lines) does not cover: the Event Broadcaster's raw binary format (whole TTL words, electrodes by
// index, no sample rate in the stream), and a strobe line with the rig box setting its word lines one by one (read
// without the strobe, such words would be wrong). Virtual rig box (socat pty) → emulated Event Broadcaster (ZMQ) →
// `ephysloop bridge openephys` (child) → daemon (child). Checked against the emulator's ground truth: every shown
// trial has data, paired with its own presentation (word sample, code, stimulus, photodiode onset), and its counts in
// the protocol's windows equal the emulator's spikes; the bridge reported nothing.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import {
  emulatorChannelMap,
  type OpenEphysBroadcaster,
} from "../../controller/simulate/openephys-broadcaster.ts";
import { type RunningSimulation, startSimulation } from "../../controller/simulate/run.ts";
import { freePort, simulatedProtocol, waitFor } from "./simulated-day.ts";

const RATE = 30000;

// One backbone feature cache for both days (the daemon computes the stimuli's features before phase 1).
const features = mkdtempSync(join(tmpdir(), "ephys-oe-fmt-features-"));

let children: ChildProcess[] = [];
let sim: RunningSimulation | undefined;
afterEach(async () => {
  for (const c of children) c.kill("SIGKILL");
  children = [];
  await sim?.stop();
  sim = undefined;
});

interface Case {
  name: string;
  format: "json" | "binary";
  strobeLine?: number;
  lineSkewMs?: number;
}

const cases: Case[] = [
  { name: "the raw binary format", format: "binary" },
  {
    name: "a strobe line, the word's lines set 1 ms apart (JSON)",
    format: "json",
    strobeLine: 9,
    lineSkewMs: 1,
  },
];

describe("Open Ephys bridge, formats against the ground truth", () => {
  for (const c of cases)
    it(`${c.name}: every shown trial's counts equal the emulator's spikes`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "ephys-oe-fmt-"));
      mkdirSync(features, { recursive: true });
      symlinkSync(features, join(dir, "features"));
      const protocolPath = simulatedProtocol(dir, { repetitions: 2, simulation: ["neurons: thumbnail"] });
      const [port, zport] = [await freePort(), await freePort()];
      const token = "openephys-formats-token-0123456789";
      const mapFile = join(dir, "channels.yaml");
      writeFileSync(
        mapFile,
        emulatorChannelMap(8, { binary: c.format === "binary", strobeLine: c.strobeLine }),
      );
      const spawnNode = (args: string[]) => {
        const child = spawn(process.execPath, ["bin/ephysloop.mjs", ...args], {
          stdio: ["ignore", "ignore", "pipe"],
        });
        let err = "";
        child.stderr?.on("data", (d) => {
          err += d;
        });
        children.push(child);
        return { child, err: () => err };
      };
      const hostPath = join(dir, "box-host");
      const daemon = spawnNode([
        ...["serve", "--protocol", protocolPath, "--data-dir", dir, "--port", String(port)],
        ...["--token", token, "--serial", hostPath, "--time-scale", "0.01", "--log-level", "warn"],
      ]);
      const bridge = spawnNode([
        ...["bridge", "openephys", "--zmq", `tcp://127.0.0.1:${zport}`, "--url", `ws://127.0.0.1:${port}`],
        ...["--token", token, "--channels", mapFile, "--outbox", join(dir, "outbox.db")],
      ]);
      // The bridge is on before the first presentation (else the first trials are announced without it).
      await waitFor(
        "the bridge to join the session",
        () => /connected to session/.test(bridge.err()),
        30_000,
      );
      sim = await startSimulation({
        url: `ws://127.0.0.1:${port}`,
        token,
        protocolPath,
        hostPath,
        boxPath: join(dir, "box"),
        acquisition: "openephys",
        openephys: {
          endpoint: `tcp://127.0.0.1:${zport}`,
          format: c.format,
          photodiodeJitterMs: 5,
          strobeLine: c.strobeLine,
          lineSkewMs: c.lineSkewMs,
        },
      });
      const oe = sim.broadcaster!;
      const db = join(dir, "ephysloop.db");
      const query = <T>(sql: string): T[] => {
        let d: Database.Database | null = null;
        try {
          d = new Database(db, { readonly: true, fileMustExist: true });
          return d.prepare(sql).all() as T[];
        } catch {
          return []; // not created yet
        } finally {
          d?.close();
        }
      };
      // 60 presentations shown, then every one of them (but the last two, still in flight) stored.
      const shown = () =>
        query<{ n: number }>("SELECT COUNT(*) AS n FROM trials WHERE status = 'shown'")[0]?.n ?? 0;
      await waitFor("60 shown trials", () => shown() >= 60, 150_000).catch((e) => {
        throw new Error(
          `${e.message} (${shown()}):\n${daemon.err().slice(-2000)}\n${bridge.err().slice(-2000)}`,
        );
      });
      const last = query<{ id: number }>("SELECT MAX(trial_id) AS id FROM trials")[0].id - 2;
      const unstored = () =>
        query<{ trial_id: number }>(
          `SELECT trial_id FROM trials WHERE status = 'shown' AND trial_id <= ${last}
             AND trial_id NOT IN (SELECT trial_id FROM trial_data)`,
        ).map((r) => r.trial_id);
      await waitFor("every shown trial's data", () => unstored().length === 0, 30_000).catch((e) => {
        throw new Error(`${e.message}: ${unstored().join(", ")}\n${bridge.err().slice(-2000)}`);
      });
      checkTruth(db, oe, last);
    }, 300_000);
});

/** Every stored trial up to `last` against the emulator's presentations and spikes; no bridge notice. */
function checkTruth(db: string, oe: OpenEphysBroadcaster, last: number): void {
  const d = new Database(db, { readonly: true });
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
    .prepare(
      `SELECT trial_id, source, sample, photodiode_minus_event_ms AS delta FROM trial_onsets WHERE trial_id <= ${last}`,
    )
    .all() as Array<{ trial_id: number; source: string; sample: number; delta: number | null }>;
  const data = d
    .prepare(
      `SELECT t.trial_id, t.counts, c.channels FROM trial_data t JOIN channel_sets c
         ON c.session_id = t.session_id AND c.id = t.channel_set WHERE t.trial_id <= ${last}`,
    )
    .all() as Array<{ trial_id: number; counts: Buffer; channels: string }>;
  const alerts = d
    .prepare("SELECT content FROM events WHERE type = 'alert' AND subtype = 'bridge'")
    .all()
    .map((e) => JSON.parse((e as { content: string }).content));
  d.close();

  expect(alerts).toEqual([]);
  expect(onsets.length).toBeGreaterThanOrEqual(55);
  const byWord = new Map(oe.presentations.map((p) => [p.wordSample, p]));
  for (const o of onsets) {
    expect(o.source, `trial ${o.trial_id}`).toBe("photodiode");
    const word = o.sample - Math.round((o.delta! * RATE) / 1000);
    const p = byWord.get(word);
    expect(p, `trial ${o.trial_id}: no presentation with its word at sample ${word}`).toBeDefined();
    const t = trials.get(o.trial_id)!;
    expect([p!.code, p!.stimulusId, p!.photodiodeSample]).toEqual([t.event_code, t.stimulus_id, o.sample]);
  }
  const onsetOf = new Map(onsets.map((o) => [o.trial_id, o.sample]));
  let spikes = 0;
  for (const row of data) {
    const ids = JSON.parse(row.channels) as string[];
    const counts = new Uint32Array(row.counts.buffer, row.counts.byteOffset, row.counts.byteLength / 4);
    const onset = onsetOf.get(row.trial_id)!;
    ids.forEach((id, c) => {
      const ms = oe.spikes[Number(id.slice(2)) - 1].map((s) => ((s - onset) * 1000) / RATE);
      const truth = [
        ms.filter((x) => x >= -75 && x < 25).length,
        ms.filter((x) => x >= 50 && x < 250).length,
      ];
      expect([counts[2 * c], counts[2 * c + 1]], `trial ${row.trial_id} ${id}`).toEqual(truth);
      spikes += truth[0] + truth[1];
    });
  }
  expect(new Set(data.map((r) => r.trial_id)).size).toBe(onsets.length);
  expect(spikes).toBeGreaterThan(onsets.length * 8); // the neurons fired: the comparison is not of empty windows
}
