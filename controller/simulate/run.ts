// `ephysloop simulate`: the virtual rig as its own process — a rig box on a pseudo-terminal, a headless display and
// an acquisition bridge whose neurons are ground truth — against a running daemon.
import { createWriteStream } from "node:fs";
import { computeFeatures, createFeatureExtractor } from "../../analysis/features/index.ts";
import type { FeatureMaps } from "../../analysis/readout/feature-maps.ts";
import { loadProtocol, resolveManifest } from "../../protocols/load.ts";
import { simulationSchema } from "../../protocols/schema.ts";
import { sha256File } from "../../stimuli/hash.ts";
import { loadManifest } from "../../stimuli/manifest.ts";
import { stimulusKey } from "../session/prepare.ts";
import { type BridgeFaults, SimulatedBridge, type SimulatedTrialTruth } from "./bridge.ts";
import { FirmwareBox } from "./firmware-box.ts";
import { HeadlessDisplay } from "./headless-display.ts";
import { buildGroundTruth } from "./neurons.ts";
import { SimulatedEye, type TrackerMap } from "./simulated-eye.ts";
import { VirtualRigBox } from "./virtual-box.ts";

export interface SimulateOptions {
  url: string;
  token: string;
  protocolPath: string;
  /** Pty link the daemon opens (the virtual box creates the pair); both or neither with boxPath. */
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
  faults?: BridgeFaults;
  /** Stop after this many ms (default: run until the daemon closes the connections for good). */
  channels?: number;
  /** Feature cache folder shared with the daemon (the same features are computed once). */
  featureCache?: string;
  /** Called with every trial's simulated spikes (tests compare the store with it). */
  onTruth?: (t: SimulatedTrialTruth) => void;
}

export interface RunningSimulation {
  bridge: SimulatedBridge;
  box: VirtualRigBox | null;
  firmware: { box: FirmwareBox; eye: SimulatedEye } | null;
  display: HeadlessDisplay;
  stop(): Promise<void>;
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
  let features: FeatureMaps | undefined;
  if (sim.neurons === "backbone") {
    // The same backbone the day's models use, so the models can, in principle, recover the neurons.
    const extractor = await createFeatureExtractor({
      arch: p.model.backbone,
      variant: p.model.variant,
      layer: p.model.layer,
      imageSize: p.model.imageSize,
    });
    const hashed = await Promise.all(
      stimuli.map(async (s) => ({ id: s.id, path: s.path, sha256: await sha256File(s.path) })),
    );
    features = await computeFeatures({ images: hashed, extractor, root: o.featureCache });
    await extractor.dispose();
  }
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
  });
  // The bridge cannot see phases; phase 2 begins with the first object or control image announced.
  const phase2Ids = new Set(
    p.stimulusSets
      .filter((set) => set.role !== "preferred")
      .flatMap((set) => stimuli.filter((s) => s.id.startsWith(`${set.id}/`)).map((s) => s.id)),
  );
  let phase: 1 | 2 = 1;
  // Breaks per second of fixation, from the protocol's per-presentation break probability.
  const breakRatePerS = sim.fixationBreakRate / ((p.presentation.stimulusMs * sim.timeScale) / 1000 || 1) / 4;
  const firmware =
    o.rigBox === "firmware" && o.hostPath
      ? await FirmwareBox.start({ hostPath: o.hostPath }).then((fw) => ({
          box: fw,
          eye: new SimulatedEye(fw, { tracker: o.tracker, breakRatePerS, seed: p.seed }),
        }))
      : null;
  firmware?.eye.start();
  const box =
    o.hostPath && o.boxPath && !firmware
      ? await VirtualRigBox.start({
          hostPath: o.hostPath,
          boxPath: o.boxPath,
          // Breaks per second of fixation, from the protocol's per-presentation break probability.
          fixation: { breakRatePerS, seed: p.seed },
        })
      : null;
  box?.startFixationModel();
  const truthOut = o.truthFile ? createWriteStream(o.truthFile) : null;
  const bridge = new SimulatedBridge({
    url: o.url,
    token: o.token,
    channels,
    rate: (channelId, stimulusId) => {
      if (phase2Ids.has(stimulusId)) phase = 2;
      return truth.rate(channelId, stimulusId, phase);
    },
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
  await retry(() => bridge.connect());
  const display = await retry(() =>
    HeadlessDisplay.connect({ url: `${o.url}/display`, token: o.token, seed: p.seed }),
  );
  if (firmware) {
    display.on("presentation", (q) => firmware.eye.photodiode(q.onsetLocalMs, q.offsetLocalMs));
    display.on("target", (t) => firmware.eye.lookAt(t));
  }
  return {
    bridge,
    box,
    firmware,
    display,
    stop: async () => {
      bridge.close();
      await display.close();
      await box?.close();
      firmware?.eye.stop();
      await firmware?.box.close();
      await new Promise<void>((r) => (truthOut ? truthOut.end(() => r()) : r()));
    },
  };
}

async function retry<T>(f: () => Promise<T>, attempts = 100, delayMs = 200): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await f();
    } catch (e) {
      if (i >= attempts) throw e;
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}

export async function simulate(o: SimulateOptions): Promise<void> {
  const running = await startSimulation(o);
  console.log(
    `virtual rig connected to ${o.url}${running.box ? ` (rig box on ${running.box.hostPath})` : ""}`,
  );
  const stop = async () => {
    await running.stop();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
