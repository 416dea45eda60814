// A whole simulated day under faults on every link, against the daemon as a real child process: the acquisition
// bridge drops its connection every 23 messages and sends duplicates, reordered and malformed frames; the display
// loses its connection now and then; the rig box is unplugged and plugged back in (the day pauses, the bench
// resumes it as an operator would); and the daemon is killed with SIGKILL once in phase 1 and once in phase 2 and
// started again (it resumes the session). The day must end `done`, and the store must hold every acked message
// exactly once, every (trial, channel) in one row, with the simulator's spike times, and data for every shown trial.
// Baseline, in the same run: the same day without faults. Exit code 1 when anything is lost, doubled or wrong.
//
//   npm run bench:soak          (BENCH_QUICK=1: 2 repetitions per phase instead of the demo's 6)
//
// Needs socat (the box on a real pseudo-terminal, so that the daemon can be killed and reopen it).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import type { SimulatedTrialTruth } from "../controller/simulate/bridge.ts";
import { startSimulation } from "../controller/simulate/run.ts";
import { spikesOf } from "../controller/store/packed.ts";
import { SessionStore } from "../controller/store/store.ts";

const QUICK = process.env.BENCH_QUICK === "1";
const TOKEN = "soak-token-0123456789abcdef";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const freePort = () =>
  new Promise<number>((res) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });

function protocolFile(dir: string): string {
  let text = readFileSync("protocols/demo.yaml", "utf8")
    .replace(/manifest: \.\.\/stimuli/g, `manifest: ${resolve("stimuli")}`)
    .replace("simulation:\n", "simulation:\n  neurons: thumbnail\n");
  if (QUICK)
    text = text
      .replace("  repetitions: 6\n  order", "  repetitions: 2\n  order")
      .replace("phase2:\n  repetitions: 6", "phase2:\n  repetitions: 2");
  const file = join(dir, "soak.yaml");
  writeFileSync(file, text);
  return file;
}

interface DayResult {
  seconds: number;
  state: string;
  problems: string[];
  acked: number;
  kills: number;
  unplugs: number;
  displayDrops: number;
  bridgeErrors: number;
}

async function day(withFaults: boolean): Promise<DayResult> {
  const dir = mkdtempSync(join(tmpdir(), `ephys-soak-${withFaults ? "faults" : "clean"}-`));
  const protocolPath = protocolFile(dir);
  const port = await freePort();
  const hostPath = join(dir, "box-host");
  const db = join(dir, "ephysloop.db");
  let daemon: ChildProcess | null = null;
  const serve = (extra: string[]) => {
    daemon = spawn(
      process.execPath,
      [
        "bin/ephysloop.mjs",
        "serve",
        ...["--data-dir", dir, "--port", String(port), "--token", TOKEN, "--serial", hostPath],
        ...["--time-scale", "0.02", "--log-level", "error", ...extra],
      ],
      { stdio: ["ignore", "ignore", "inherit"] },
    );
  };
  const read = () => {
    try {
      const d = new Database(db, { readonly: true, fileMustExist: true });
      const state = (d.prepare("SELECT state FROM sessions").get() as { state: string } | undefined)?.state;
      const shown = (
        d
          .prepare("SELECT phase, COUNT(*) AS n FROM trials WHERE status = 'shown' GROUP BY phase")
          .all() as Array<{
          phase: number;
          n: number;
        }>
      ).reduce((o, r) => Object.assign(o, { [r.phase]: r.n }), {} as Record<number, number>);
      d.close();
      return { state: state ?? "", shown };
    } catch {
      return { state: "", shown: {} as Record<number, number> };
    }
  };
  const api = (path: string) =>
    fetch(`http://127.0.0.1:${port}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
    }).catch(() => null);

  const t0 = performance.now();
  serve(["--protocol", protocolPath]);
  const truth = new Map<number, SimulatedTrialTruth>();
  const sim = await startSimulation({
    url: `ws://127.0.0.1:${port}`,
    token: TOKEN,
    protocolPath,
    hostPath,
    boxPath: join(dir, "box"),
    connectTimeoutMs: 60_000,
    faults: withFaults
      ? { dropEvery: 23, duplicate: 0.05, reorder: 0.05, delayMs: 5, garbage: 0.03 }
      : undefined,
    onTruth: (t) => truth.set(t.trialId, t),
  });
  const result: DayResult = {
    seconds: 0,
    state: "",
    problems: [],
    acked: 0,
    kills: 0,
    unplugs: 0,
    displayDrops: 0,
    bridgeErrors: 0,
  };
  const killedIn = new Set<number>();
  let lastFault = performance.now();
  // The operator's and the faults' loop: until the day ends.
  for (;;) {
    const { state, shown } = read();
    if (["done", "failed", "aborted"].includes(state)) {
      result.state = state;
      break;
    }
    if (performance.now() - t0 > 1_800_000) {
      result.state = `stuck in ${state}`;
      break;
    }
    if (state.endsWith(".paused")) await api("/api/resume"); // the box is back: go on, as an operator would
    const phase = state.startsWith("phase1") ? 1 : state.startsWith("phase2") ? 2 : 0;
    if (withFaults && phase && (shown[phase] ?? 0) > 30) {
      if (!killedIn.has(phase)) {
        killedIn.add(phase);
        const dead = daemon!;
        dead.kill("SIGKILL");
        await new Promise((r) => dead.once("exit", r));
        result.kills++;
        await sleep(300);
        serve([]); // resume the unfinished session
      } else if (performance.now() - lastFault > 4000) {
        lastFault = performance.now();
        if (result.unplugs <= result.displayDrops) {
          await sim.box!.unplug();
          await sleep(300);
          await sim.box!.replug();
          sim.box!.startFixationModel();
          result.unplugs++;
        } else {
          sim.display!.drop();
          result.displayDrops++;
        }
      }
    }
    await sleep(200);
  }
  result.seconds = (performance.now() - t0) / 1000;
  // Let replays and acks settle before the bridge goes.
  for (let i = 0; i < 100 && (sim.bridge?.pending ?? 0) > 0; i++) await sleep(100);
  result.acked = sim.bridge!.acked.size;
  result.bridgeErrors = sim.bridge!.errors.length;
  const acked = [...sim.bridge!.acked];
  await sim.stop();
  (daemon as ChildProcess | null)?.kill("SIGTERM");
  await new Promise((r) => (daemon as ChildProcess).once("exit", r));

  // The store against what was acked and what the simulator sent.
  const store = new SessionStore(db);
  const sessionId = (store.db.prepare("SELECT id FROM sessions").get() as { id: string }).id;
  const p = result.problems;
  if (result.state !== "done") p.push(`the day ended ${result.state}`);
  const stored = store.db
    .prepare("SELECT seq, COUNT(*) AS n FROM acquisition_messages GROUP BY seq")
    .all() as Array<{
    seq: number;
    n: number;
  }>;
  const storedSeqs = new Map(stored.map((r) => [r.seq, r.n]));
  const lost = acked.filter((s) => !storedSeqs.has(s));
  if (lost.length) p.push(`${lost.length} acked messages not stored (seq ${lost.slice(0, 5).join(", ")})`);
  const doubled = stored.filter((r) => r.n > 1);
  if (doubled.length) p.push(`${doubled.length} seqs stored twice`);
  const cells = new Map<string, number>();
  const perTrial = new Map<number, number>();
  let compared = 0;
  for (const part of store.trialData(sessionId)) {
    const t = truth.get(part.trialId);
    part.channelIds.forEach((id, c) => {
      const key = `${part.trialId}/${id}`;
      cells.set(key, (cells.get(key) ?? 0) + 1);
      perTrial.set(part.trialId, (perTrial.get(part.trialId) ?? 0) + 1);
      const sent = t?.spikes[id];
      const got = spikesOf(part, c);
      if (!sent || !got || sent.length !== got.length || sent.some((v, k) => v !== got[k]))
        p.push(`trial ${part.trialId} channel ${id}: stored spikes differ from the simulator's`);
      else compared++;
    });
  }
  const twice = [...cells.entries()].filter(([, n]) => n > 1);
  if (twice.length) p.push(`${twice.length} (trial, channel) pairs stored twice (${twice[0][0]})`);
  const channels = store.channels(sessionId).length;
  const without = store
    .trials(sessionId)
    .filter((t) => t.status === "shown")
    .filter((t) => (perTrial.get(t.trialId) ?? 0) < channels);
  if (without.length) p.push(`${without.length} shown trials without data for every channel`);
  store.close();
  console.log(
    `${withFaults ? "with faults" : "fault-free"}: ${result.state} in ${result.seconds.toFixed(0)} s; ` +
      `${result.acked} messages acked, ${compared} (trial, channel) spike trains equal the simulator's; ` +
      (withFaults
        ? `${result.kills} daemon kills, ${result.unplugs} box unplugs, ${result.displayDrops} display drops, ` +
          `${sim.bridge!.connects} bridge connections, ${result.bridgeErrors} error frames for its garbage; `
        : "") +
      `${p.length ? `PROBLEMS: ${p.slice(0, 5).join("; ")}` : "nothing lost, nothing doubled"}`,
  );
  return result;
}

const clean = await day(false);
const faulty = await day(true);
console.log(`load average ${loadavg()[0].toFixed(1)}`);
const ok = clean.problems.length === 0 && faulty.problems.length === 0;
console.log(
  `soak: ${faulty.seconds.toFixed(0)} s/day with faults, ${ok ? "0" : "SOME"} lost or doubled ` +
    `(${(faulty.seconds / clean.seconds).toFixed(2)}× fault-free day)`,
);
process.exit(ok ? 0 : 1);
