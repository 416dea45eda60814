// Phase-2 → phase-3 turnaround (#21): the time from the end of phase 2 to the first phase-3 presentation — the
// day's checking step, then phase 3 as the day runs it: its explain step (shared-feature maps channel by channel,
// each channel's pair cut into fragments, their backbone features and the model's predictions as soon as its maps
// are stored) beside the phase runner, which presents a channel's fragments as soon as they are stored — against
// the phase-1 → phase-2 turnaround (fitting, selecting, synthesizing), both timed in this run on the same store.
// It also says when every channel's fragments were ready and how long the display waited for later channels.
//
// The day is the paper's design: protocols/body-patch.yaml as it stands, with its phase3 section on (its
// commented-out one turned on while it is off) and visualization.minObjectR = −1 (every channel the checks keep
// gets maps, however well its model predicts the phase-2 objects). Its stimulus sets are not in the repository,
// so the bench writes sets of the paper's size (475 bodies, 500 objects, 100 control bodies, as
// bench/turnaround.ts) from the demo photographs (stimuli/demo) and mirrored, shrunk and shifted copies of them
// on the display grey. Everything runs through the day's own steps on a real SessionStore (SQLite file) in a
// temporary data dir: prepare (hashing, features of every image and of the training silhouettes: not timed),
// phase 1 simulated (each image 8×, Poisson counts from the backbone ground-truth neurons of
// controller/simulate/neurons.ts with protocols/demo.yaml's simulation settings, 5 % fixation breaks re-queued in
// their block), fit → select → synthesize (timed: the baseline), phase 2 simulated the same way, then check →
// phase 3 until its first presentation (timed: the measured value) and on until every channel's fragments are made.
// Times are wall clock; CPU seconds are the whole process's (worker threads included).
//
//   npm run bench:phase3                   (32 channels; about 6 minutes on an idle 2-core machine)
//   npm run bench:phase3 -- --channels 4   (a shorter run)   --keep: leave the data dir in place
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { basename, join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import pino from "pino";
import sharp from "sharp";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { mulberry32, type Random, shuffleInPlace } from "../analysis/random.ts";
import { loadConfig } from "../config/index.ts";
import { type StepContext, stepContext } from "../controller/day/context.ts";
import { cachedFeatures } from "../controller/day/object-predictions.ts";
import { phaseStimuli } from "../controller/day/phase.ts";
import { PRESENTER, phase3Parts } from "../controller/day/phase3-parts.ts";
import { checkStep } from "../controller/day/steps/check.ts";
import { explainStep } from "../controller/day/steps/explain.ts";
import { fitStep } from "../controller/day/steps/fit.ts";
import { prepareFeatures, prepareStimuli } from "../controller/day/steps/prepare.ts";
import { selectStep } from "../controller/day/steps/select.ts";
import { synthesizedStimuliStep } from "../controller/day/steps/synthesize.ts";
import type { Logger } from "../controller/log.ts";
import { AbortedError, runPhase } from "../controller/scheduler/phase-runner.ts";
import { alwaysFixating } from "../controller/scheduler/rig-ports.ts";
import { buildGroundTruth, type GroundTruth } from "../controller/simulate/neurons.ts";
import { SessionStore } from "../controller/store/store.ts";
import { loadProtocol } from "../protocols/index.ts";

const { values: args } = parseArgs({
  options: { channels: { type: "string", default: "32" }, keep: { type: "boolean", default: false } },
});
const N_CHANNELS = Number(args.channels);
if (!Number.isInteger(N_CHANNELS) || N_CHANNELS < 1 || N_CHANNELS > 1024)
  throw new Error(`--channels: expected an integer 1..1024; found ${args.channels}`);
/** The paper's set sizes (bench/turnaround.ts). */
const SETS = [
  { id: "bodies", demo: "bodies", count: 475 },
  { id: "objects", demo: "objects", count: 500 },
  { id: "control-bodies", demo: "control-bodies", count: 100 },
] as const;
const FIXATION_BREAK_RATE = 0.05;
const REPO = join(import.meta.dirname, "..");

const seconds = (t0: number) => (performance.now() - t0) / 1000;
/** This process's threads by nice value ("0: 12, 10: 9"), from /proc (Linux; empty elsewhere). */
function niceOfThreads(): string {
  const count = new Map<number, number>();
  try {
    for (const tid of readdirSync("/proc/self/task")) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      const nice = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
      count.set(nice, (count.get(nice) ?? 0) + 1);
    }
  } catch {
    return "";
  }
  return [...count]
    .sort((a, b) => a[0] - b[0])
    .map(([n, c]) => `${n}: ${c}`)
    .join(", ");
}
const cpuSeconds = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1e6;
const dir = mkdtempSync(join(tmpdir(), "ephysloop-phase3-"));
console.log(
  `machine: ${availableParallelism()} cores, load ${loadavg()[0].toFixed(2)}; ${N_CHANNELS} channels; data dir ${dir}`,
);

// 1. Stimulus sets of the paper's size from the demo photographs: copy k of a photograph is the original (k = 0),
// or mirrored, shrunk to 85 % or 70 % and placed centred or towards a corner on the display grey.
const VARIANTS = [
  { scale: 1, flip: false, at: 0 },
  { scale: 1, flip: true, at: 0 },
  { scale: 0.85, flip: false, at: 0 },
  { scale: 0.85, flip: true, at: 0 },
  { scale: 0.85, flip: false, at: -1 },
  { scale: 0.85, flip: true, at: 1 },
  { scale: 0.7, flip: false, at: 0 },
  { scale: 0.7, flip: true, at: 0 },
];
const SIZE = 224;
let t0 = performance.now();
for (const set of SETS) {
  const source = join(REPO, "stimuli", "demo", set.demo);
  const manifest = JSON.parse(readFileSync(join(source, "manifest.json"), "utf8")) as {
    images: Array<{ id: string; path: string; category: string }>;
  };
  const folder = join(dir, "sets", set.id);
  mkdirSync(folder, { recursive: true });
  const images: Array<{ id: string; path: string; category: string }> = [];
  for (let k = 0; images.length < set.count; k++) {
    const v = VARIANTS[Math.floor(k / manifest.images.length)];
    if (!v)
      throw new Error(`${set.id}: ${VARIANTS.length} copies of the demo set are fewer than ${set.count}`);
    const img = manifest.images[k % manifest.images.length];
    const id = v === VARIANTS[0] ? img.id : `${img.id}-v${VARIANTS.indexOf(v)}`;
    const size = Math.round(SIZE * v.scale);
    const margin = SIZE - size;
    const left = Math.round((margin / 2) * (1 + v.at));
    const top = Math.round((margin / 2) * (1 - v.at));
    await sharp(join(source, img.path))
      .flatten({ background: "#808080" })
      .resize(size, size)
      .flop(v.flip)
      .extend({ left, top, right: margin - left, bottom: margin - top, background: "#808080" })
      .png()
      .toFile(join(folder, `${id}.png`));
    images.push({ id, path: `${id}.png`, category: img.category });
  }
  writeFileSync(join(folder, "manifest.json"), JSON.stringify({ version: 1, set: set.id, images }));
}
console.log(
  `stimulus sets (${SETS.map((s) => `${s.count} ${s.id}`).join(", ")}) from the demo photographs: ${seconds(t0).toFixed(1)} s`,
);

// 2. The protocol: body-patch.yaml with its phase3 section (its own when on, else its commented-out one, else
// demo.yaml's at body-patch's phase-2 repetitions), minObjectR −1, the sets above.
const paperPath = join(REPO, "protocols", "body-patch.yaml");
const paperText = readFileSync(paperPath, "utf8");
const doc = parseYaml(paperText);
const lines = paperText.split("\n");
const start = lines.findIndex((l) => /^# phase3:\s*$/.test(l));
let phase3Source = "its phase3 section";
if (!doc.phase3 && start >= 0) {
  const block = [lines[start].slice(2)];
  for (let i = start + 1; lines[i]?.startsWith("#   "); i++) block.push(lines[i].slice(2));
  doc.phase3 = parseYaml(block.join("\n")).phase3;
  phase3Source = "its commented-out phase3 section turned on";
} else if (!doc.phase3) {
  const demo = parseYaml(readFileSync(join(REPO, "protocols", "demo.yaml"), "utf8"));
  doc.phase3 = { ...demo.phase3, repetitions: doc.phase2.repetitions };
  phase3Source = "demo.yaml's phase3 section (body-patch.yaml has none)";
}
doc.visualization.minObjectR = -1;
doc.stimulusSets = doc.stimulusSets.map((s: { id: string }) => ({
  ...s,
  manifest: `sets/${s.id}/manifest.json`,
}));
const protocolPath = join(dir, "body-patch-phase3.yaml");
writeFileSync(protocolPath, stringifyYaml(doc));
const loaded = loadProtocol(protocolPath);
const p = loaded.protocol;
const sim = loadProtocol(join(REPO, "protocols", "demo.yaml")).protocol.simulation!;
console.log(
  `protocol: ${basename(paperPath)} with ${phase3Source} (${p.phase3!.kinds.join(", ")}; ${p.phase3!.randomCount} random), ` +
    `visualization.minObjectR = ${p.visualization.minObjectR} (bench setting: every kept channel is visualized; the paper's is 0.4), ` +
    `ε = ${p.visualization.epsilon}, method ${p.visualization.method}; fit ≤ ${p.model.epochs} epochs, silhouettes ${p.model.augmentation.silhouettes}`,
);

// 3. The store, the session and the step context (the log's lines printed as progress, per-second progress left out).
const log = pino(
  { level: "info", base: null, timestamp: false },
  {
    write(line: string) {
      const { msg } = JSON.parse(line) as { msg: string };
      if (/^fit epoch|^features \d|\d+\/\d+$/.test(msg)) return;
      console.log(`  ${msg.length > 220 ? `${msg.slice(0, 217)}…` : msg}`);
    },
  },
) as unknown as Logger;
const store = new SessionStore(join(dir, "ephysloop.db"));
const sessionId = "bench-phase3";
store.createSession({
  id: sessionId,
  protocolName: p.name,
  protocolPath: loaded.path,
  protocolText: loaded.text,
  protocolSha256: loaded.sha256,
  codeVersion: JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).version,
  software: { node: process.version },
  seed: p.seed,
});
const config = loadConfig({ env: {}, flags: { dataDir: dir } });
const ctx: StepContext = stepContext({ store, sessionId, loaded, config, log });
const channelIds = Array.from({ length: N_CHANNELS }, (_, i) => `ch${String(i + 1).padStart(3, "0")}`);
store.upsertChannels(
  sessionId,
  channelIds.map((id, index) => ({ id, probe: "probe0", index })),
);

t0 = performance.now();
const stimuli = await prepareStimuli(store, sessionId, loaded.path);
await prepareFeatures(ctx);
console.log(
  `prepare (not timed): ${stimuli.length} stimuli hashed, features cached in ${seconds(t0).toFixed(1)} s`,
);

// 4. Ground truth: category neurons over the cached features (the simulated rig's), as protocols/demo.yaml sets them.
const weights = store.getSession(sessionId)?.weights_sha256 ?? null;
const features = await cachedFeatures(config, p, weights, stimuli);
if (!features) throw new Error("the prepared features are not in the cache");
const truth: GroundTruth = await buildGroundTruth({
  channels: channelIds,
  stimuli: stimuli.map((s) => ({ id: s.id, path: s.path, category: s.category })),
  preferredCategory: p.stimulusSets.find((s) => s.role === "preferred")!.category,
  baselineRate: sim.baselineRate,
  peakRate: sim.peakRate,
  seed: p.seed,
  features,
  receptiveFieldExtent: sim.receptiveFieldExtent,
  objectGain: sim.objectGain,
});

const poisson = (random: Random, mean: number) => {
  const limit = Math.exp(-mean);
  let k = 0;
  for (let prod = random(); prod > limit; prod *= random()) k++;
  return k;
};

/** A phase on the store: each stimulus `repetitions` times in shuffled blocks, fixation breaks re-queued. */
async function simulatePhase(phase: 1 | 2, random: Random, seq: { n: number }): Promise<number> {
  const list = await phaseStimuli(ctx, phase);
  const code = new Map(list.map((s) => [s.id, s.eventCode]));
  const reps = phase === 1 ? p.presentation.repetitions : p.phase2.repetitions;
  const { baseline, response } = p.windows;
  const spanS = (w: { startMs: number; endMs: number }) => (w.endMs - w.startMs) / 1000;
  let shown = 0;
  for (let block = 0; block < reps; block++) {
    store.db.transaction(() => {
      const queue = shuffleInPlace(
        list.map((s) => s.id),
        random,
      );
      while (queue.length) {
        const stimulusId = queue.shift()!;
        const trialId = store.nextTrialId(sessionId);
        store.recordTrial(sessionId, {
          trialId,
          phase,
          block,
          stimulusId,
          eventCode: code.get(stimulusId)!,
          status: "pending",
        });
        if (random() < FIXATION_BREAK_RATE) {
          store.settleTrial(sessionId, trialId, { status: "voided", reason: "fixation break" });
          queue.push(stimulusId);
          continue;
        }
        const onsetMs = trialId * 450;
        store.settleTrial(sessionId, trialId, {
          status: "shown",
          onsetMs,
          offsetMs: onsetMs + p.presentation.stimulusMs,
          droppedFrames: 0,
        });
        store.ingest(sessionId, [
          {
            seq: ++seq.n,
            trialId,
            channels: channelIds.map((channelId) => ({
              channelId,
              counts: {
                baseline: poisson(random, sim.baselineRate * spanS(baseline)),
                response: poisson(random, truth.rate(channelId, stimulusId, phase) * spanS(response)),
              },
            })),
          },
        ]);
        shown++;
      }
    })();
  }
  ctx.forgetRates(phase);
  return shown;
}

const random = mulberry32(p.seed);
const seq = { n: 0 };
t0 = performance.now();
const shown1 = await simulatePhase(1, random, seq);
console.log(`phase 1 simulated (not timed): ${shown1} presentations in ${seconds(t0).toFixed(1)} s`);

// 5. Baseline: the phase-1 → phase-2 turnaround (fit, select, synthesize).
const timed = async (name: string, run: () => Promise<unknown>) => {
  const cpu = process.cpuUsage();
  const t = performance.now();
  await run();
  const s = seconds(t);
  console.log(`${name}: ${s.toFixed(1)} s (CPU ${cpuSeconds(process.cpuUsage(cpu)).toFixed(1)} s)`);
  return s;
};
console.log(`phase-1 → phase-2 turnaround, ${N_CHANNELS} channels:`);
const fitS = await timed("  fit", () => fitStep(ctx));
const selectS = await timed("  select", () => selectStep(ctx));
const synthesizeS = await timed(
  `  synthesize (selection.synthesized = ${p.selection.synthesized}${p.selection.synthesized === 0 ? ": nothing to do" : ""})`,
  () => synthesizedStimuliStep(ctx),
);
const baseline = fitS + selectS + synthesizeS;

t0 = performance.now();
const shown2 = await simulatePhase(2, random, seq);
console.log(
  `phase 2 simulated (not timed): ${(await phaseStimuli(ctx, 2)).length} stimuli, ${shown2} presentations in ${seconds(t0).toFixed(1)} s`,
);

// 6. Measured: end of phase 2 → first phase-3 presentation, as the day runs it: check, then phase 3 (controller/day
// machine.ts), whose explain step makes the maps channel by channel and each channel's fragments as soon as its
// maps are stored (steps/explain.ts), while the phase runner presents each channel's part as it comes
// (phase3-parts.ts), here on an in-process rig at the protocol's real-time timing whose box always fixates (the
// fastest presentation, so the longest waits for the next channel). Also: when every channel's fragments are
// ready, and how long the display then waited for later channels.
console.log(`phase-2 → phase-3 turnaround, ${N_CHANNELS} channels:`);
const tEnd2 = performance.now();
const checkS = await timed("  check", async () => checkStep(ctx));
const kept = store.decisions(sessionId).filter((d) => d.included).length;
let firstShowS: number | null = null;
// The daemon's own thread during phase 3, from the first presentation on: the fragment cuts, PNG encoding and
// predictions run on it (the maps and features in worker threads); its event-loop delay is what the presentation
// loop feels.
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
let threadNice = "";
const stopPresenting = new AbortController();
const presenting = runPhase({
  store,
  sessionId,
  phase: 3,
  protocol: p,
  parts: phase3Parts(ctx),
  box: alwaysFixating,
  display: async () => ({
    show: async (trialId, _id, ms) => {
      if (firstShowS === null) {
        firstShowS = seconds(tEnd2);
        threadNice = niceOfThreads();
        loopDelay.reset(); // from here on the animal sees stimuli
      }
      await new Promise((r) => setTimeout(r, ms));
      return { onset: trialId, offset: trialId + ms, droppedFrames: 0 };
    },
  }),
  acquisition: { announce: () => {}, waitForData: async () => [] },
  timeScale: 1,
  signal: stopPresenting.signal,
}).catch((e: unknown) => {
  if (!(e instanceof AbortedError)) throw e;
});
const explainCpu = process.cpuUsage();
loopDelay.enable();
const explained = await explainStep(ctx);
loopDelay.disable();
const allReadyS = seconds(tEnd2);
const explainCpuS = cpuSeconds(process.cpuUsage(explainCpu));
stopPresenting.abort();
await presenting;
const shown3 = store.trials(sessionId, 3).filter((t) => t.status === "shown").length;
const waits = store
  .latestEvents(sessionId, PRESENTER.type, 10_000)
  .filter((e) => e.subtype === PRESENTER.partReady)
  .map((e) => JSON.parse(e.content) as { part: number; waitedS: number });
const laterWaitS = waits.filter((w) => w.part > 0).reduce((a, w) => a + w.waitedS, 0);
const visualized = explained.visualize;
const fragmented = explained.fragments;
const phase3 = await phaseStimuli(ctx, 3);
const reasons = new Map<string, number>();
for (const s of [...visualized.skipped, ...fragmented.skipped]) {
  const key = s.reason.replace(/r = -?[\d.]+ over \d+/, "r = … over …");
  reasons.set(key, (reasons.get(key) ?? 0) + 1);
}
console.log(
  `channels: ${kept} kept by the checks, ${visualized.done.length} visualized (${visualized.skipped.length} skipped), ` +
    `${fragmented.done.length} fragmented (${fragmented.skipped.length} skipped); ` +
    `${fragmented.done.reduce((a, c) => a + c.fragments, 0)} fragments made; phase 3 shows ${phase3.length} stimuli`,
);
for (const [reason, n] of reasons) console.log(`  skipped ×${n}: ${reason}`);
console.log(
  `  first channel's fragments ready after ${explained.firstReadyS?.toFixed(1) ?? "–"} s of explaining; ` +
    `first presentation ${firstShowS === null ? "never" : `${(firstShowS as number).toFixed(1)} s`} after the end of phase 2`,
);
console.log(
  `  every channel's fragments ready ${allReadyS.toFixed(1)} s after the end of phase 2 (explain CPU ${explainCpuS.toFixed(1)} s` +
    `${visualized.done.length ? `, ${((allReadyS - checkS) / visualized.done.length).toFixed(1)} s per channel` : ""}); ` +
    `${shown3} phase-3 presentations by then at real time; the display waited ${laterWaitS.toFixed(1)} s for later channels`,
);
if (threadNice) console.log(`  threads at the first presentation (nice value: count): ${threadNice}`);
const ms = (ns: number) => (ns / 1e6).toFixed(1);
console.log(
  `  the daemon thread's event-loop delay from the first presentation until then (10 ms resolution): median ${ms(loopDelay.percentile(50))} ms, ` +
    `p99 ${ms(loopDelay.percentile(99))} ms, max ${ms(loopDelay.max)} ms`,
);
const measured = firstShowS ?? allReadyS;
console.log(
  `goal (#21): the first phase-3 presentation under 120 s after phase 2 for 32 channels on 2 cores — ` +
    (N_CHANNELS === 32 ? (measured < 120 ? "met" : "not met") : `not judged (${N_CHANNELS} channels)`) +
    ` here (${availableParallelism()} cores, load ${loadavg()[0].toFixed(2)})`,
);

store.close();
if (args.keep) console.log(`data dir kept: ${dir}`);
else rmSync(dir, { recursive: true, force: true });
console.log(
  `phase3: ${measured.toFixed(1)} s (${(measured / baseline).toFixed(1)}× phase-1→phase-2 turnaround ${baseline.toFixed(1)} s)`,
);
