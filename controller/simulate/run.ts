// `ephysloop simulate`: the virtual rig as its own process — a rig box on a pseudo-terminal, a headless display and
// an acquisition bridge whose neurons are ground truth — against a running daemon.
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { EphysError } from "../../analysis/errors.ts";
import {
  computeFeatures,
  countMissing,
  createFeatureExtractor,
  type FeatureExtractor,
} from "../../analysis/features/index.ts";
import type { FeatureMaps } from "../../analysis/readout/index.ts";
import { loadProtocol, type Protocol, resolveManifest, simulationSchema } from "../../protocols/index.ts";
import { loadManifest, parseFragmentId, sha256File } from "../../stimuli/index.ts";
import { stimulusKey } from "../day/steps/prepare.ts";
import { type BridgeFaults, SimulatedBridge, type SimulatedTrialTruth } from "./bridge.ts";
import { FirmwareBox } from "./firmware-box.ts";
import { HeadlessDisplay } from "./headless-display.ts";
import { buildGroundTruth, type GroundTruth, type NewImage, writeTruthFile } from "./neurons.ts";
import { OpenEphysBroadcaster } from "./openephys-broadcaster.ts";
import { SimulatedEye, type TrackerMap } from "./simulated-eye.ts";
import type { SpikeGlxRig } from "./spikeglx-rig.ts";
import type { SpikeGlxServer } from "./spikeglx-server.ts";
import { VirtualRigBox } from "./virtual-box.ts";

/** The parts of the virtual rig, as the operator's error names them. */
export type VirtualRigPart = "rig box" | "display" | "acquisition bridge" | "neurons" | "virtual rig process";

/** A part of the virtual rig that could not start: which, why (the cause's own words) and what to do about it. */
export class VirtualRigError extends EphysError<"EPHYS_VIRTUAL_RIG"> {
  constructor(
    readonly part: VirtualRigPart,
    readonly cause_: string,
    readonly fix: string,
  ) {
    super("EPHYS_VIRTUAL_RIG", `the virtual rig's ${part} could not start: ${cause_}`);
  }
}

/** Make one part fail at start, through its real code path (to see, and to test, how the day reports it). */
export type SimulateFault = "display" | "acquisition" | "rig-process";

export interface SimulateOptions {
  url: string;
  token: string;
  protocolPath: string;
  /** Pty link the daemon opens (the virtual box creates the pair with socat); both or neither with boxPath. */
  hostPath?: string;
  boxPath?: string;
  /**
   * "virtual" (default): the protocol played by VirtualRigBox on a socat pair (hostPath and boxPath);
   * "firmware": firmware/rigbox in simavr on a pty linked at hostPath, with a simulated eye tracker and a
   * photodiode that follows the display.
   */
  rigBox?: "virtual" | "firmware";
  /** The simulated eye tracker's gaze → voltage map (rigBox "firmware"). */
  tracker?: TrackerMap;
  truthFile?: string;
  /**
   * Where to write the neurons themselves (SimulationTruth JSON, analysis/simulation-truth.ts): under `ephysloop
   * demo`, <session folder>/simulation-truth.json, where the report step finds it for its truth appendix.
   */
  truthNeuronsFile?: string;
  faults?: BridgeFaults;
  /** Leave these parts out, so a lab can run its own against the simulated rest. */
  without?: { acquisition?: boolean; display?: boolean };
  /** How long to keep trying to reach the daemon (default 20 s: `simulate` may start before `serve`). */
  connectTimeoutMs?: number;
  fault?: SimulateFault;
  channels?: number;
  /** Feature cache folder shared with the daemon (the same features are computed once). */
  featureCache?: string;
  /** Called with every trial's simulated spikes (tests compare the store with it). */
  onTruth?: (t: SimulatedTrialTruth) => void;
  /**
   * "openephys": no bridge here; the neurons and the rig box's event words are published as an Open Ephys Event
   * Broadcaster would (openephys-broadcaster.ts) for `ephysloop bridge openephys` to turn into /acquisition.
   */
  acquisition?: "direct" | "openephys" | "spikeglx";
  /** "spikeglx": a Neuropixels rig served through SpikeGLX's Remote Command API (spikeglx-rig.ts) on this port. */
  spikeglx?: { port?: number };
  openephys?: {
    endpoint?: string;
    format?: "json" | "binary";
    photodiodeJitterMs?: number;
    dropWords?: ReadonlySet<number>;
    /** A strobe on this TTL line, and the word's lines set one by one this many ms apart (see the emulator). */
    strobeLine?: number;
    lineSkewMs?: number;
  };
}

export interface RunningSimulation {
  /** The direct bridge; null with acquisition "openephys" (then `broadcaster`). */
  bridge: SimulatedBridge | null;
  broadcaster: OpenEphysBroadcaster | null;
  /** With acquisition "spikeglx": the rig's streams (and ground truth) and the command server serving them. */
  spikeglx: { rig: SpikeGlxRig; server: SpikeGlxServer } | null;
  box: VirtualRigBox | null;
  firmware: { box: FirmwareBox; eye: SimulatedEye } | null;
  display: HeadlessDisplay | null;
  stop(): Promise<void>;
}

/** Runs one part's start; any failure becomes a VirtualRigError naming the part and the fix. */
async function part<T>(name: VirtualRigPart, fix: string, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (e) {
    if (e instanceof VirtualRigError) throw e;
    throw new VirtualRigError(name, e instanceof Error ? e.message : String(e), fix);
  }
}

export async function startSimulation(o: SimulateOptions): Promise<RunningSimulation> {
  const loaded = loadProtocol(o.protocolPath);
  const p = loaded.protocol;
  const sim = p.simulation ?? simulationSchema.parse({ channels: 16, fixationBreakRate: 0.05 });
  const stimuli = p.stimulusSets.flatMap((set) =>
    loadManifest(resolveManifest(loaded, set.manifest)).images.map((img) => ({
      id: stimulusKey(set.id, img.id),
      path: img.absPath,
      category: set.category,
    })),
  );
  const preferred = p.stimulusSets.find((s) => s.role === "preferred")!.category;
  const nChannels = o.channels ?? sim.channels;
  const channels = Array.from({ length: nChannels }, (_, i) => ({
    id: `ch${String(i + 1).padStart(3, "0")}`,
    probe: "probe0",
    index: i,
  }));
  const connectTimeoutMs = o.connectTimeoutMs ?? 20_000;
  const reach = `check that the daemon runs at ${o.url} and that --token is its token (<data dir>/token)`;
  let features: FeatureMaps | undefined;
  // The same backbone the day's models use, so the models can, in principle, recover the neurons. Made again on
  // the first image the day shows beyond the protocol's (a phase-3 fragment, a synthesized image: ~3 s to load, then
  // ~35 ms an image on 2 cores), and disposed at stop.
  let extractor: Promise<FeatureExtractor> | null = null;
  const backbone = () =>
    (extractor ??= createFeatureExtractor({
      arch: p.model.backbone,
      variant: p.model.variant,
      layer: p.model.layer,
      imageSize: p.model.imageSize,
    }));
  const disposeBackbone = async () => {
    const e = extractor;
    extractor = null;
    await (await e?.catch(() => null))?.dispose();
  };
  if (sim.neurons === "backbone")
    features = await part(
      "neurons",
      "the simulated neurons need the backbone's features: run `npx ephysloop features` on the protocol to see the error on its own, or set simulation.neurons: thumbnail",
      async () => {
        const hashed = await Promise.all(
          stimuli.map(async (s) => ({ id: s.id, path: s.path, sha256: await sha256File(s.path) })),
        );
        try {
          const e = await backbone();
          // The daemon's prepare step computes the same features into the same cache: wait for its entries
          // instead of computing every image twice on the same cores; compute whatever does not appear.
          if (o.featureCache) await waitForFeatures(hashed, e, o.featureCache);
          return await computeFeatures({ images: hashed, extractor: e, root: o.featureCache });
        } finally {
          await disposeBackbone();
        }
      },
    );
  const truth = await buildGroundTruth({
    channels: channels.map((c) => c.id),
    stimuli,
    preferredCategory: preferred,
    baselineRate: sim.baselineRate,
    peakRate: sim.peakRate,
    seed: p.seed,
    features,
    unstable: sim.unstableChannels,
    nonSelective: sim.nonSelectiveChannels,
    receptiveFieldExtent: sim.receptiveFieldExtent,
    objectGain: sim.objectGain,
    newImages: sim.newImages,
  });
  const learner = newImageLearner({
    truth,
    stimuli,
    extractor: sim.neurons === "backbone" ? backbone : null,
    featureCache: o.featureCache,
  });
  if (o.truthNeuronsFile) {
    const file = o.truthNeuronsFile;
    await part("neurons", `check that ${dirname(file)} can be written`, () =>
      writeTruthFile(file, truth.truth, loaded.sha256),
    );
  }
  // The bridge cannot see phases; it tells them from the stimuli announced, and a phase never goes back: phase 2
  // begins with the first object or control image (or synthesized image: those join phase 2 only), phase 3 with the
  // first fragment (fragment/<channel>/<kind>/<parent>, stimuli/fragment-id.ts; only phase 3 shows them).
  const phase2Ids = new Set(
    p.stimulusSets
      .filter((set) => set.role !== "preferred")
      .flatMap((set) => stimuli.filter((s) => s.id.startsWith(`${set.id}/`)).map((s) => s.id)),
  );
  const phaseOf = (stimulusId: string): 1 | 2 | 3 =>
    stimulusId.startsWith("fragment/")
      ? 3
      : phase2Ids.has(stimulusId) || stimulusId.startsWith("synthesized/")
        ? 2
        : 1;
  let phase: 1 | 2 | 3 = 1;
  const { breakRatePerS } = fixationModel(p);
  const firmware =
    o.rigBox === "firmware" && o.hostPath
      ? await part(
          "rig box",
          "the emulated firmware needs make, gcc-avr, avr-libc, simavr and libsimavr-dev (test/system-deps.sh)",
          () =>
            FirmwareBox.start({ hostPath: o.hostPath! }).then((fw) => ({
              box: fw,
              eye: new SimulatedEye(fw, { tracker: o.tracker, breakRatePerS, seed: p.seed }),
            })),
        )
      : null;
  firmware?.eye.start();
  const box =
    o.hostPath && o.boxPath && !firmware
      ? await part(
          "rig box",
          "the pseudo-terminal rig box needs socat (Debian: apt-get install socat); `npm start` needs none",
          () =>
            VirtualRigBox.start({
              hostPath: o.hostPath,
              boxPath: o.boxPath,
              fixation: fixationModel(p),
            }),
        )
      : null;
  box?.startFixationModel();
  const truthOut = o.truthFile ? createWriteStream(o.truthFile) : null;
  const token = (which: SimulateFault) => (o.fault === which ? `${o.token}-broken-by-fault` : o.token);
  const rateOf = (channelId: string, stimulusId: string) => {
    const now = phaseOf(stimulusId);
    if (now > phase) phase = now;
    return truth.rate(channelId, stimulusId, phase);
  };
  const openephys = o.acquisition === "openephys" && !o.without?.acquisition;
  const spikeglxWanted = o.acquisition === "spikeglx" && !o.without?.acquisition;
  const bridge =
    o.without?.acquisition || openephys || spikeglxWanted
      ? null
      : new SimulatedBridge({
          url: o.url,
          token: token("acquisition"),
          channels,
          rate: rateOf,
          baselineRate: sim.baselineRate,
          latencyMs: sim.latencyMs,
          stimulusMs: p.presentation.stimulusMs,
          seed: p.seed + 1,
          sendAfterMs: (p.windows.response.endMs + 20) * sim.timeScale,
          faults: o.faults,
          onTruth: (t) => {
            truthOut?.write(`${JSON.stringify(t)}\n`);
            o.onTruth?.(t);
          },
        });
  // With acquisition "openephys" the neurons and the event words go out as an Event Broadcaster would publish them,
  // for `ephysloop bridge openephys`; the words come from the rig box's EVT lines (this process's box, or the box
  // of the `ephysloop demo` that started this process, forwarded over IPC).
  const broadcaster = openephys
    ? await part(
        "acquisition bridge",
        "see the message; the emulator needs a free TCP port on 127.0.0.1",
        () =>
          OpenEphysBroadcaster.start({
            endpoint: o.openephys?.endpoint,
            format: o.openephys?.format ?? "json",
            timeScale: sim.timeScale,
            electrodes: nChannels,
            rate: (e, stimulusId) => rateOf(channels[e].id, stimulusId),
            baselineRate: sim.baselineRate,
            latencyMs: sim.latencyMs,
            responseMs: p.presentation.stimulusMs,
            photodiodeJitterMs: o.openephys?.photodiodeJitterMs,
            dropWords: o.openephys?.dropWords,
            strobeLine: o.openephys?.strobeLine,
            lineSkewMs: o.openephys?.lineSkewMs,
            seed: p.seed + 1,
          }),
      )
    : null;
  // With acquisition "spikeglx" the neurons fire on a simulated probe's AP band and the event words go to the NI
  // stream's digital word, served through SpikeGLX's Remote Command API for `ephysloop bridge spikeglx`.
  const spikeglx = spikeglxWanted
    ? await part(
        "acquisition bridge",
        "see the message; the emulator needs a free TCP port on 127.0.0.1",
        async () => {
          const { SpikeGlxRig } = await import("./spikeglx-rig.ts");
          const { SpikeGlxServer } = await import("./spikeglx-server.ts");
          const rig = new SpikeGlxRig({
            channels: nChannels,
            rate: (c, stimulusId) => rateOf(channels[c].id, stimulusId),
            baselineRate: sim.baselineRate,
            latencyMs: sim.latencyMs,
            responseMs: p.presentation.stimulusMs,
            timeScale: sim.timeScale,
            seed: p.seed + 1,
          });
          const server = await SpikeGlxServer.start({
            port: o.spikeglx?.port ?? 0,
            streams: { ni: rig.ni, imec: [rig.imec] },
            mapSample: (dst, srcCount, src) =>
              dst.js === src.js ? srcCount : dst.js === 2 ? rig.niToImec(srcCount) : rig.imecToNi(srcCount),
          });
          return { rig, server };
        },
      )
    : null;
  const words = broadcaster ?? spikeglx?.rig ?? null;
  if (words) {
    if (box)
      box.onHostLine((r) => {
        if (r.line.kind === "evt") words.eventWord(r.line.code);
      });
    else if (process.send)
      process.on("message", (m: { type?: string; code?: number }) => {
        if (m.type === "evt" && typeof m.code === "number") words.eventWord(m.code);
      });
    else
      throw new VirtualRigError(
        "rig box",
        `--acquisition ${o.acquisition} needs the event words of a rig box`,
        `give --box-host and --box (a virtual box on a socat pty), or run it through \`ephysloop demo --acquisition ${o.acquisition}\``,
      );
  }
  const stopAll = async (display: HeadlessDisplay | null) => {
    bridge?.close();
    await display?.close();
    await box?.close();
    firmware?.eye.stop();
    await firmware?.box.close();
    await broadcaster?.close();
    await spikeglx?.server.stop();
    await new Promise<void>((r) => (truthOut ? truthOut.end(() => r()) : r()));
    await learner.close();
    await disposeBackbone();
  };
  let display: HeadlessDisplay | null = null;
  try {
    if (bridge)
      await part("acquisition bridge", reach, () =>
        retry(() => bridge.connect(), connectTimeoutMs, refusedForGood),
      );
    if (!o.without?.display) {
      display = await part("display", reach, () =>
        retry(
          () =>
            HeadlessDisplay.connect({
              url: `${o.url}/display`,
              token: token("display"),
              seed: p.seed,
              // Rates for the images the protocol does not list, before the phase that shows them starts.
              onPreload: (images) =>
                learner.learn(images).catch((e: unknown) => {
                  console.error(
                    `virtual rig: the neurons could not learn ${images.length} preloaded image(s): ${(e as Error)?.message ?? String(e)}`,
                  );
                  throw e;
                }),
            }),
          connectTimeoutMs,
          refusedForGood,
        ),
      );
      if (words) display.on("show", (req) => words.show(req.stimulusId));
      if (firmware) {
        const { eye } = firmware;
        display.on("presentation", (q) => eye.photodiode(q.onsetLocalMs, q.offsetLocalMs));
        display.on("target", (t) => eye.lookAt(t));
      }
    }
  } catch (e) {
    await stopAll(display);
    throw e;
  }
  return { bridge, broadcaster, spikeglx, box, firmware, display, stop: () => stopAll(display) };
}

export interface NewImageLearner {
  /**
   * Gives the neurons rates for every image of `images` they do not know yet (by id), from its bytes: a fragment
   * (stimuli/fragment-id.ts) as a member of its parent's category, any other as outside every category. Features
   * come from the feature cache where the daemon has put them (keyed by the bytes' sha256), else are computed.
   */
  learn(images: ReadonlyArray<{ id: string; bytes: Uint8Array }>): Promise<void>;
  /** Removes the temporary image files (the extractor is the caller's). */
  close(): Promise<void>;
}

/**
 * The neurons' side of the display's preload: images the protocol does not list are written to a temporary folder
 * (the extractor and the thumbnail statistic read files) and handed to `truth.addImages`. `extractor` makes (or
 * returns) the protocol's backbone; null for thumbnail neurons.
 */
export function newImageLearner(o: {
  truth: GroundTruth;
  stimuli: ReadonlyArray<{ id: string; category: string }>;
  extractor: (() => Promise<FeatureExtractor>) | null;
  featureCache?: string;
  log?: (line: string) => void;
}): NewImageLearner {
  const categoryOf = new Map(o.stimuli.map((s) => [s.id, s.category]));
  let folder: Promise<string> | null = null;
  const log = o.log ?? ((line: string) => console.log(line));
  return {
    async learn(images) {
      const seen = new Set<string>();
      const fresh = images.filter((img) => !o.truth.knows(img.id) && !seen.has(img.id) && seen.add(img.id));
      if (!fresh.length) return;
      const started = performance.now();
      folder ??= mkdtemp(join(tmpdir(), "ephysloop-new-images-"));
      const dir = await folder;
      const described = await Promise.all(
        fresh.map(async (img) => {
          const sha256 = createHash("sha256").update(img.bytes).digest("hex");
          const path = join(dir, sha256);
          await writeFile(path, img.bytes);
          const parentId = parseFragmentId(img.id)?.parentId;
          const image: NewImage = {
            id: img.id,
            category: parentId === undefined ? null : (categoryOf.get(parentId) ?? null),
            path,
            ...(parentId === undefined ? {} : { parentId }),
          };
          return { image, sha256 };
        }),
      );
      const needs = described.filter((d) => o.truth.needsFeatures(d.image));
      let computed = 0;
      if (needs.length) {
        if (!o.extractor) throw new Error("the backbone neurons need features, and no extractor was given");
        const features = await computeFeatures({
          images: needs.map((d) => ({ id: d.image.id, path: d.image.path!, sha256: d.sha256 })),
          extractor: await o.extractor(),
          root: o.featureCache,
        });
        computed = features.computed;
        await o.truth.addImages(
          needs.map((d) => d.image),
          features,
        );
      }
      await o.truth.addImages(described.filter((d) => !needs.includes(d)).map((d) => d.image));
      log(
        `virtual rig: the neurons learned ${fresh.length} new image(s) (${needs.length} from their features, ` +
          `${computed} computed) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
      );
    },
    async close() {
      const dir = await folder?.catch(() => null);
      folder = null;
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Waits while another process fills the feature cache: until no entry is missing, or none has appeared for
 * `quietMs` (the daemon loads its backbone in about the time this process took to load its own).
 */
async function waitForFeatures(
  images: Array<{ id: string; path: string; sha256: string }>,
  extractor: FeatureExtractor,
  root: string,
  quietMs = 20_000,
): Promise<void> {
  let missing = await countMissing(images, extractor, root);
  let progressAt = Date.now();
  while (missing > 0 && Date.now() - progressAt < quietMs) {
    await new Promise((r) => setTimeout(r, 500));
    const now = await countMissing(images, extractor, root);
    if (now < missing) progressAt = Date.now();
    missing = now;
  }
}

/**
 * The simulated subject: fixation breaks at the protocol's rate (per presentation, as breaks per second of
 * fixation), and re-acquisition after a break in ~400 ms of the day's time (300 ms mean + 100 ms minimum), run at the
 * protocol's timeScale like every other interval of the simulated day (unscaled, each break cost a 50× day 400 ms of
 * wall time: most of a test day's phase), never under 5 ms of wall time.
 */
export function fixationModel(p: Protocol): {
  breakRatePerS: number;
  seed: number;
  reacquireMeanMs: number;
  reacquireMinMs: number;
} {
  const sim = p.simulation ?? simulationSchema.parse({ channels: 16, fixationBreakRate: 0.05 });
  return {
    breakRatePerS: sim.fixationBreakRate / ((p.presentation.stimulusMs * sim.timeScale) / 1000 || 1) / 4,
    seed: p.seed,
    reacquireMeanMs: Math.max(5, 300 * sim.timeScale),
    reacquireMinMs: Math.max(5, 100 * sim.timeScale),
  };
}

/** A refused hello (wrong token, version, a busy bridge slot) will not change by trying again. */
const refusedForGood = (e: unknown) =>
  /refused|EPHYS_UNAUTHORIZED|EPHYS_BAD_/.test(String((e as Error)?.message));

/** Tries f until it succeeds, `giveUp` says the error is final, or timeoutMs has passed (then the last error). */
async function retry<T>(f: () => Promise<T>, timeoutMs: number, giveUp: (e: unknown) => boolean): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (giveUp(e) || Date.now() >= deadline) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/**
 * `ephysloop simulate`: runs until stopped. Under `ephysloop demo` (an IPC channel to the parent) it tells the
 * parent `ready`, or which part failed and how to fix it, and exits non-zero on a failure.
 */
export async function simulate(o: SimulateOptions): Promise<void> {
  const tell = (m: unknown) => process.send?.(m);
  let running: RunningSimulation;
  try {
    running = await startSimulation(o);
  } catch (e) {
    const err =
      e instanceof VirtualRigError
        ? e
        : new VirtualRigError("virtual rig process", (e as Error).message ?? String(e), "see the log above");
    // Under `ephysloop demo` the parent says it once, with the day's outcome; on its own, say it here.
    if (process.send) tell({ type: "failed", part: err.part, cause: err.cause_, fix: err.fix });
    else console.error(`error: ${err.message}\nfix: ${err.fix}`);
    process.exitCode = 1;
    process.disconnect?.();
    return;
  }
  console.log(
    `virtual rig connected to ${o.url}${running.box ? ` (rig box on ${running.box.hostPath})` : ""}` +
      (running.broadcaster ? `; Event Broadcaster on ${running.broadcaster.endpoint}` : "") +
      (running.spikeglx ? `; SpikeGLX command server on 127.0.0.1:${running.spikeglx.server.port}` : ""),
  );
  tell({ type: "ready" });
  if (o.fault === "rig-process") process.exit(3); // a crash, as far as the parent can tell
  const stop = async () => {
    await running.stop();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  process.once("disconnect", stop); // the demo that started this process is gone
}
