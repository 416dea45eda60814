// A simulated day through the whole Open Ephys chain: virtual rig box → emulated Event Broadcaster (ZMQ, JSON) →
// `ephysloop bridge openephys` (a real child process) → daemon (a real child process). Injected: a dropped event
// word, a spurious word, photodiode jitter, a bridge kill -9 and a daemon kill -9. Checked from the stored data:
// every trial with data was paired with its own presentation (code, stimulus, photodiode onset), its spike counts
// equal the emulator's ground truth, the mismatches reached the event log, and nothing was lost or stored twice.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { emulatorChannelMap } from "../../controller/simulate/openephys-broadcaster.ts";
import { type RunningSimulation, startSimulation } from "../../controller/simulate/run.ts";
import { freePort, simulatedProtocol, waitFor } from "./simulated-day.ts";

let children: ChildProcess[] = [];
let sim: RunningSimulation | undefined;
afterEach(async () => {
  for (const c of children) c.kill("SIGKILL");
  children = [];
  await sim?.stop();
  sim = undefined;
});

const RATE = 30000;
const DROPPED_EVT = 12;

describe("Open Ephys bridge, end to end", () => {
  it("pairs every onset with its own trial and loses nothing through dropped/spurious codes and kill -9s", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ephys-oe-"));
    const protocolPath = simulatedProtocol(dir, { repetitions: 3, simulation: ["neurons: thumbnail"] });
    const [port, zport] = [await freePort(), await freePort()];
    const hostPath = join(dir, "box-host");
    const token = "openephys-test-token-0123456789";
    const db = join(dir, "ephysloop.db");
    const mapFile = join(dir, "channels.yaml");
    writeFileSync(mapFile, emulatorChannelMap(8));
    const outbox = join(dir, "outbox.db");
    const spawnNode = (args: string[]) => {
      const child = spawn(process.execPath, ["bin/ephysloop.mjs", ...args], {
        stdio: ["ignore", "ignore", "pipe"],
      });
      let err = "";
      child.stderr?.on("data", (d) => {
        err += d;
      });
      (child as ChildProcess & { err: () => string }).err = () => err;
      children.push(child);
      return child;
    };
    const serve = (extra: string[]) =>
      spawnNode([
        "serve",
        ...["--data-dir", dir, "--port", String(port), "--token", token, "--serial", hostPath],
        ...["--time-scale", "0.01", "--log-level", "warn", ...extra],
      ]);
    const bridge = () =>
      spawnNode([
        "bridge",
        "openephys",
        ...["--zmq", `tcp://127.0.0.1:${zport}`, "--url", `ws://127.0.0.1:${port}`, "--token", token],
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
    const shownIds = () =>
      query<{ trial_id: number }>("SELECT trial_id FROM trials WHERE status = 'shown'").map(
        (r) => r.trial_id,
      );
    const shown = () =>
      query<{ n: number }>("SELECT COUNT(*) AS n FROM trials WHERE status = 'shown'")[0]?.n ?? 0;

    const firstDaemon = serve(["--protocol", protocolPath]);
    sim = await startSimulation({
      url: `ws://127.0.0.1:${port}`,
      token,
      protocolPath,
      hostPath,
      boxPath: join(dir, "box"),
      acquisition: "openephys",
      openephys: {
        endpoint: `tcp://127.0.0.1:${zport}`,
        format: "json",
        photodiodeJitterMs: 15,
        dropWords: new Set([DROPPED_EVT]),
      },
    });
    const oe = sim.broadcaster!;
    const box = sim.box!;
    let firstBridge = bridge();

    // A spurious code (no stimulus has it) between two presentations.
    await waitFor("20 event codes", () => box.events.length >= 20);
    oe.spuriousWord(250);

    // Bridge kill -9 in the middle of the phase; presentations go on while it is down.
    await waitFor("30 shown trials", () => shown() >= 30);
    firstBridge.kill("SIGKILL");
    await new Promise((r) => firstBridge.once("exit", r));
    const evtsAtKill = box.events.length;
    await waitFor("3 presentations without a bridge", () => box.events.length >= evtsAtKill + 3);
    firstBridge = bridge();

    // Daemon kill -9; it resumes the session.
    await waitFor("60 shown trials", () => shown() >= 60);
    firstDaemon.kill("SIGKILL");
    await new Promise((r) => firstDaemon.once("exit", r));
    serve([]);
    await waitFor("90 shown trials after the restart", () => shown() >= 90, 90_000);
    const lastTrial = query<{ id: number }>("SELECT MAX(trial_id) AS id FROM trials")[0].id;
    // Every trial up to here answered: stored, or reported without data; the outbox drained.
    let diag: unknown;
    await waitFor(
      "the bridge to answer every trial so far and its outbox to drain",
      () => {
        const ob = new Database(outbox, { readonly: true });
        const pending = (ob.prepare("SELECT COUNT(*) AS n FROM outbox").get() as { n: number }).n;
        const answeredIds = new Set(
          (ob.prepare("SELECT trial_id FROM trials").all() as Array<{ trial_id: number }>).map(
            (r) => r.trial_id,
          ),
        );
        const unanswered = shownIds().filter((id) => id <= lastTrial - 2 && !answeredIds.has(id));
        ob.close();
        diag = { pending, unanswered };
        return pending === 0 && unanswered.length === 0;
      },
      30_000,
    ).catch((e) => {
      console.log(
        JSON.stringify(diag),
        (firstBridge as ChildProcess & { err: () => string }).err().slice(-3000),
      );
      throw e;
    });

    // The bridge's view first, the daemon's after: the day goes on meanwhile, so a trial the outbox has already
    // forgotten (the daemon acked it) must be in the daemon's later snapshot; one still kept may not be yet.
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
    d.exec("BEGIN"); // one read snapshot for every query below: the day is still storing trials
    const trials = new Map(
      (
        d.prepare("SELECT trial_id, stimulus_id, event_code, status FROM trials").all() as Array<{
          trial_id: number;
          stimulus_id: string;
          event_code: number;
          status: string;
        }>
      ).map((t) => [t.trial_id, t]),
    );
    const onsets = d
      .prepare("SELECT trial_id, source, sample, photodiode_minus_event_ms AS delta FROM trial_onsets")
      .all() as Array<{ trial_id: number; source: string; sample: number; delta: number | null }>;
    const data = d
      .prepare(
        `SELECT t.trial_id, t.counts, c.channels FROM trial_data t JOIN channel_sets c
           ON c.session_id = t.session_id AND c.id = t.channel_set`,
      )
      .all() as Array<{ trial_id: number; counts: Buffer; channels: string }>;
    const events = d
      .prepare("SELECT subtype, content FROM events WHERE type = 'alert' AND subtype = 'bridge'")
      .all()
      .map((e) => JSON.parse((e as { content: string }).content) as { code: string; trialId?: number });
    const perTrial = d
      .prepare("SELECT trial_id, COUNT(*) AS n FROM acquisition_messages GROUP BY trial_id HAVING n > 1")
      .all();
    d.exec("COMMIT");
    d.close();

    // Paired with its own presentation: the word's sample, code, stimulus and photodiode onset all agree.
    expect(onsets.length).toBeGreaterThan(60);
    const byWord = new Map(
      oe.presentations.filter((p) => p.wordSample !== null).map((p) => [p.wordSample!, p]),
    );
    const deltas: number[] = [];
    for (const o of onsets) {
      expect(o.source).toBe("photodiode");
      const word = o.sample - Math.round((o.delta! * RATE) / 1000);
      const p = byWord.get(word);
      expect(p, `trial ${o.trial_id}: no presentation with its word at sample ${word}`).toBeDefined();
      const t = trials.get(o.trial_id)!;
      expect(p!.code).toBe(t.event_code);
      expect(p!.stimulusId).toBe(t.stimulus_id);
      expect(p!.photodiodeSample).toBe(o.sample);
      deltas.push(o.delta!);
    }
    // Photodiode jitter: onsets 12..27 ms after the word, stored per trial, and really jittered.
    expect(Math.min(...deltas)).toBeGreaterThanOrEqual(12);
    expect(Math.max(...deltas)).toBeLessThan(27.1);
    expect(new Set(deltas.map((x) => Math.round(x))).size).toBeGreaterThan(5);

    // Spike counts equal the ground truth in the protocol's windows around each stored onset.
    const onsetOf = new Map(onsets.map((o) => [o.trial_id, o.sample]));
    for (const row of data) {
      const ids = JSON.parse(row.channels) as string[];
      const counts = new Uint32Array(row.counts.buffer, row.counts.byteOffset, row.counts.byteLength / 4);
      const onset = onsetOf.get(row.trial_id)!;
      ids.forEach((id, c) => {
        const e = Number(id.slice(2)) - 1;
        const ms = oe.spikes[e].map((s) => ((s - onset) * 1000) / RATE);
        const baseline = ms.filter((x) => x >= -75 && x < 25).length;
        const response = ms.filter((x) => x >= 50 && x < 250).length;
        expect([counts[2 * c], counts[2 * c + 1]], `trial ${row.trial_id} ${id}`).toEqual([
          baseline,
          response,
        ]);
      });
    }
    expect(new Set(data.map((r) => r.trial_id)).size).toBe(onsets.length);

    // The dropped word's trial and the spurious code are in the event log; nothing stored twice.
    const droppedCode = oe.presentations.find((p) => p.evt === DROPPED_EVT)!.code;
    const missing = events.filter((e) => e.code === "EPHYS_BRIDGE_MISSING_CODE");
    expect(missing.some((e) => trials.get(e.trialId!)?.event_code === droppedCode)).toBe(true);
    expect(events.some((e) => e.code === "EPHYS_BRIDGE_EXTRA_CODE")).toBe(true);
    expect(perTrial).toHaveLength(0);
    // Every trial the bridge committed as sent and then forgot (acked) is stored: nothing acked is lost.
    expect(acked.length).toBeGreaterThan(60);
    for (const id of acked) expect(onsetOf.has(id), `trial ${id} acked but not stored`).toBe(true);
    expect(readFileSync(mapFile, "utf8")).toContain("photodiodeLine: 8");
  }, 240_000);
});
