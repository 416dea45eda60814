// SIGKILL the daemon in the middle of phase 1, start it again: the session resumes at the next trial, the bridge
// replays, nothing acked is lost and nothing is stored twice. The daemon runs as a real child process.
import type { ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { type RunningSimulation, startSimulation } from "../../controller/simulate/run.ts";
import { freePort, serveChild, simulatedProtocol, waitFor } from "./simulated-day.ts";

let children: ChildProcess[] = [];
let sim: RunningSimulation | undefined;
afterEach(async () => {
  await sim?.stop();
  for (const c of children) c.kill("SIGKILL");
  children = [];
});

describe("daemon restart", () => {
  it("resumes the session at the next trial after SIGKILL, losing nothing acked and storing nothing twice", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ephys-restart-"));
    const protocolPath = simulatedProtocol(dir, { repetitions: 3, simulation: ["neurons: thumbnail"] });
    const port = await freePort();
    const hostPath = join(dir, "box-host");
    const token = "restart-test-token-0123456789";
    const db = join(dir, "ephysloop.db");
    const serve = (extra: string[]) => {
      const child = serveChild({ dir, port, token, hostPath }, extra);
      children.push(child);
      return child;
    };
    const shown = () => {
      try {
        const d = new Database(db, { readonly: true, fileMustExist: true });
        const n = (
          d.prepare("SELECT COUNT(*) AS n FROM trials WHERE status = 'shown'").get() as { n: number }
        ).n;
        const state =
          (d.prepare("SELECT state FROM sessions").get() as { state: string } | undefined)?.state ?? "";
        d.close();
        return { n, state };
      } catch {
        return { n: 0, state: "" };
      }
    };

    const first = serve(["--protocol", protocolPath]);
    sim = await startSimulation({
      url: `ws://127.0.0.1:${port}`,
      token,
      protocolPath,
      hostPath,
      boxPath: join(dir, "box"),
    });
    await waitFor("40 shown trials", () => shown().n >= 40);
    first.kill("SIGKILL");
    await new Promise((r) => first.once("exit", r));
    const before = shown().n;
    expect(before).toBeLessThan(120);

    serve([]); // no protocol: resume the unfinished session
    await waitFor("phase 1 to finish after the restart", () => {
      const s = shown();
      return s.n >= 120 && !s.state.startsWith("phase1");
    });
    // Let the bridge's replays and acks settle.
    await waitFor("every sent message acked", () => sim!.bridge!.pending === 0, 30_000);

    const d = new Database(db, { readonly: true });
    const sessions = d.prepare("SELECT id FROM sessions").all();
    expect(sessions).toHaveLength(1);
    const trials = d
      .prepare("SELECT trial_id, status, stimulus_id FROM trials ORDER BY trial_id")
      .all() as Array<{ trial_id: number; status: string }>;
    // Trial ids are contiguous: the restart continued at the next trial and reused none.
    expect(trials.map((t) => t.trial_id)).toEqual(trials.map((_, i) => i + 1));
    expect(trials.filter((t) => t.status === "shown")).toHaveLength(120);
    expect(trials.filter((t) => t.status === "pending")).toHaveLength(0);
    const resumed = d
      .prepare("SELECT content FROM events WHERE type = 'session' AND subtype = 'resumed'")
      .all();
    expect(resumed).toHaveLength(1);
    // Nothing acked is lost.
    const stored = new Set(
      (d.prepare("SELECT seq FROM acquisition_messages").all() as Array<{ seq: number }>).map((r) => r.seq),
    );
    for (const seq of sim.bridge!.acked) expect(stored.has(seq)).toBe(true);
    // Nothing is stored twice: one message per trial, each (trial, channel) in exactly one trial_data row.
    const perTrial = d
      .prepare("SELECT trial_id, COUNT(*) AS n FROM acquisition_messages GROUP BY trial_id HAVING n > 1")
      .all();
    expect(perTrial).toHaveLength(0);
    const shownIds = trials.filter((t) => t.status === "shown").map((t) => t.trial_id);
    const rows = d
      .prepare("SELECT trial_id, SUM(n_channels) AS n FROM trial_data GROUP BY trial_id")
      .all() as Array<{ trial_id: number; n: number }>;
    const byTrial = new Map(rows.map((r) => [r.trial_id, r.n]));
    for (const id of shownIds) expect(byTrial.get(id)).toBe(8);
    expect(d.pragma("integrity_check", { simple: true })).toBe("ok");
    d.close();
  }, 240_000);
});
