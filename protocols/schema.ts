// The protocol file: one recording day's design, with units. Rig wiring (ports, devices, channel maps) lives in
// config/, so the same protocol runs on any rig (as pyControl separates task files from hardware definitions).
import { z } from "zod";

// Custom wording for a wrong type only; range checks keep zod's "expected number to be >=1" style messages.
const typeError = (text: string) => (issue: { code: string; input?: unknown }) =>
  issue.code === "invalid_type" ? (issue.input === undefined ? `${text} (required)` : text) : undefined;
const ms = (what: string) => z.number({ error: typeError(`expected a number of milliseconds (${what})`) });
const positiveInt = (what: string) =>
  z
    .number({ error: typeError(`expected a whole number (${what})`) })
    .int(`expected a whole number (${what})`);

/** A time window relative to stimulus onset, [startMs, endMs). */
export const windowSchema = z
  .strictObject({
    startMs: ms("window start relative to stimulus onset"),
    endMs: ms("window end relative to stimulus onset"),
  })
  .refine((w) => w.endMs > w.startMs, { message: "expected endMs > startMs", path: ["endMs"] });

export const stimulusRoles = ["preferred", "object", "control", "synthesized"] as const;

export const stimulusSetSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, "expected an id of lowercase letters, digits, - or _"),
  manifest: z.string().min(1, "expected a path to a manifest (.json), relative to the protocol file"),
  category: z.string().min(1, "expected a category name, e.g. body or object"),
  role: z.enum(stimulusRoles, { error: `expected one of ${stimulusRoles.join(", ")}` }),
});

export const presentationSchema = z.strictObject({
  repetitions: positiveInt("presentations of each stimulus in phase 1").min(1).max(100),
  order: z.enum(["pseudorandom-blocks"]).default("pseudorandom-blocks"),
  stimulusMs: ms("stimulus on time").min(1).max(10_000), // 200 in the paper
  isiMs: ms("blank between stimuli").min(0).max(10_000), // 250 in the paper
  stimuliPerFixation: positiveInt("stimuli shown within one fixation period").min(1).max(50),
  fixationWindowDeg: z.number().positive("expected a positive half-width in degrees of visual angle"),
  fixationAcquireMs: ms("time allowed to acquire fixation before a sequence").min(0).default(1000),
  rewardMs: ms("juice valve open time after each completed sequence").min(0).max(2000),
  interSequenceMs: ms("pause after a reward before the next sequence").min(0).default(500),
});

export const phase2Schema = z.strictObject({
  repetitions: positiveInt("presentations of each phase-2 stimulus").min(1).max(100),
});

export const windowsSchema = z.strictObject({
  baseline: windowSchema, // −75..+25 ms in the paper
  response: windowSchema, // +50..+250 ms in the paper
  psthBinMs: ms("PSTH bin width for the monitor").positive().default(10),
});

export const modelSchema = z.strictObject({
  backbone: z.enum(["resnet50", "resnet18"]),
  variant: z.enum(["keras", "torchvision"]).default("keras"),
  layer: z.string().regex(/^layer[1-4]\.\d+$/, "expected a torchvision tap name such as layer4.1"),
  imageSize: positiveInt("input pixels per side").min(32).max(1024).default(224),
  readout: z.enum(["gaussian"]).default("gaussian"),
  // Defaults for full-batch Adam on RMS-scaled features with the penalty against the summed squared error
  // (analysis/readout/fit-readouts.ts), chosen on real V4 data and the synthetic recovery day: docs/protocol.md.
  // The paper's λ 0.1 and lr 1e-4 (minibatch training) underfit here.
  penalty: z
    .strictObject({
      kind: z.enum(["l1/2", "l1"]).default("l1/2"),
      weight: z.number().min(0, "expected a penalty weight ≥ 0").default(6), // λ against the summed error
    })
    .default({ kind: "l1/2", weight: 6 }),
  learningRate: z.number().positive("expected a positive Adam learning rate").default(2e-3),
  epochs: positiveInt("maximum training epochs").min(1).max(100_000).default(2500), // early stopping ends most sooner
  /** Where the fit starts (analysis/readout/fit-readouts.ts, docs/protocol.md): "scan", the pixel whose features
   *  correlate most with the responses and zero weights (best on real V4 data); "ridge", the pixel whose features
   *  predict them best out of sample and the ridge readout there (dense readouts from few images: the demo day). */
  init: z.enum(["scan", "ridge"]).default("scan"),
  split: z.strictObject({
    train: positiveInt("training images").min(1),
    validation: positiveInt("validation images").min(1),
    test: positiveInt("held-out test images").min(1),
  }),
  augmentation: z.strictObject({ silhouettes: z.boolean() }).default({ silhouettes: false }),
});

export const selectionSchema = z.strictObject({
  topObjects: positiveInt("top predicted objects per channel").min(0),
  bottomObjects: positiveInt("bottom predicted objects per channel").min(0),
  mostSimilarObjects: positiveInt("objects most similar to the channel's top body").min(0),
  controlTop: positiveInt("top predicted control bodies per channel").min(0),
  controlBottom: positiveInt("bottom predicted control bodies per channel").min(0),
  controlMostSimilar: positiveInt("control bodies most similar to the top body").min(0),
  retestCount: positiveInt("phase-1 stimuli shown again in phase 2").min(0), // 75
  synthesized: positiveInt("synthesized images per channel added to phase 2").min(0).default(0),
});

export const checksSchema = z.strictObject({
  stabilityMinR: z.number().min(-1).max(1), // test/retest r > 0.6
  selectivityAlpha: z.number().gt(0).lt(1), // Mann-Whitney objects vs control bodies
  responsivenessMinRate: z.number().min(0), // spikes/s net, 5
  splitHalfMinR: z.number().min(-1).max(1), // 0.5
  kruskalWallisMaxP: z.number().gt(0).lt(1), // 0.01
});

export const visualizationSchema = z.strictObject({
  topObjects: positiveInt("top recorded objects searched for the shared-feature pair").min(1), // 5
  topBodies: positiveInt("top recorded bodies searched for the shared-feature pair").min(1), // 15
  smoothingSigmaPx: z.number().min(0, "expected a Gaussian sigma in pixels ≥ 0"),
  epsilon: z.number().gt(0).lt(1), // dropped β mass ≤ ε·s
  method: z.enum(["gradient", "ig", "unweighted"]).default("gradient"),
  igSteps: positiveInt("integrated-gradients path steps").min(1).default(16),
  /** Pearson r of the model's predictions with the phase-2 object responses a channel needs for shared-feature
   *  maps (Lappe et al. 2024 visualize channels with object r > 0.4): maps of a model that does not predict
   *  objects explain nothing about why objects drive the site. */
  minObjectR: z.number().min(-1).max(1).default(0.4),
});

/** Feature visualization on each channel's model (analysis/optvis): used by `ephysloop optvis` and, when
 *  selection.synthesized > 0, to add the top synthesized images per channel to phase 2 (role "synthesized"). */
export const synthesisSchema = z.strictObject({
  steps: positiveInt("Adam steps per channel").min(1).max(100_000).default(512),
  learningRate: z.number().positive("expected a positive Adam learning rate").default(0.05),
  images: positiveInt("images optimized together per channel").min(1).max(64).default(1),
  diversity: z.number().min(0, "expected a diversity weight ≥ 0").default(1), // spikes/s per unit Gram cosine
  l2: z.number().min(0, "expected a penalty weight ≥ 0").default(1e-4), // λ1 on Σ(x − ½)², x in [0, 1]
  tv: z.number().min(0, "expected a penalty weight ≥ 0").default(0), // λ2 on total variation
  parameterization: z.enum(["fourier", "pixels"]).default("fourier"),
  transforms: z.enum(["standard", "none"]).default("standard"),
  seed: positiveInt("seed of the synthesis (default: the protocol's seed)").min(0).optional(),
});

/** Phase 3, the causal test of the explanation (docs/phase3.md): after the visualize step, fragments of each
 *  visualized channel's (object, body) pair cut along its shared-feature map are shown back; absent: no phase 3. */
export const phase3Schema = z.strictObject({
  /** Fragment kinds shown: the salient region alone, the image without it, the same area at random on the
   *  silhouette; "full" shows the parent image again as the reference. */
  kinds: z
    .array(z.enum(["highlighted", "complement", "random", "full"]))
    .min(1)
    .default(["highlighted", "complement", "random", "full"]),
  /** Share of the image kept visible in a highlighted fragment (of its area, or of the map's mass: basis). */
  areaFraction: z.number().gt(0, "expected a fraction of the image in (0, 1)").lt(1).default(0.15),
  basis: z.enum(["area", "mass"]).default("area"),
  /** Gaussian σ in pixels of the fragment's edge (0: a hard edge). */
  softnessPx: z.number().min(0, "expected a Gaussian sigma in pixels ≥ 0").max(64).default(3),
  /** Random fragments per parent image (each a different placement on the silhouette). */
  randomCount: positiveInt("random fragments per image").min(1).max(20).default(3),
  repetitions: positiveInt("presentations of each phase-3 stimulus").min(1).max(100),
  /** Two-sided level of the per-channel test (highlighted vs random fragments). */
  alpha: z.number().gt(0).lt(1).default(0.05),
  /** Which pairs: the visualized pair of each channel, and also its next `topObjects` recorded objects (phase 2,
   *  by mean net rate), each cut along its own shared-feature map with the body most similar to it. */
  topObjects: z
    .number()
    .int("expected a whole number of objects")
    .min(0, "expected topObjects ≥ 0 (0: the visualized pair only)")
    .max(10, "expected topObjects ≤ 10 (each costs one more pair of gradient maps per channel)")
    .default(0),
  seed: positiveInt("seed of the random fragments (default: the protocol's seed)").min(0).optional(),
});

export const simulationSchema = z.strictObject({
  channels: positiveInt("simulated channels").min(1).max(1024),
  fixationBreakRate: z.number().min(0).max(1),
  latencyMs: ms("response latency of the simulated neurons").min(0).default(60),
  baselineRate: z.number().min(0).default(8), // spikes/s
  peakRate: z.number().min(0).default(60), // spikes/s for the best stimulus
  timeScale: z.number().positive().max(1).default(1), // 1 = real time; smaller runs the day faster
  /** Ground truth: "backbone" = category-selective model neurons over the backbone's features (Lappe et al.);
   *  "thumbnail" = a cheap deterministic image statistic (no backbone needed). */
  neurons: z.enum(["backbone", "thumbnail"]).default("backbone"),
  /** Channel indices (0-based) whose phase-2 responses are scrambled across stimuli (test/retest must fail). */
  unstableChannels: z.array(z.number().int().min(0)).default([]),
  /** Channel indices whose neurons do not prefer the preferred category (selectivity must fail). */
  nonSelectiveChannels: z.array(z.number().int().min(0)).default([]),
  /** The simulated neurons' readout locations are drawn uniformly from [−e, e]² of the feature map's [−1, 1]
   *  grid; a small e puts the receptive fields under the stimulus, as a recording day centres its stimuli on them. */
  receptiveFieldExtent: z.number().gt(0).max(1).default(0.8),
  /** The backbone neurons' response above baseline to images outside their category, as a fraction of what their
   *  features alone drive (1: a pure readout; a body patch answers even its best objects more weakly than bodies). */
  objectGain: z.number().min(0).max(1).default(1),
  /** How the neurons answer an image the protocol does not list (phase-3 fragments, synthesized images): "features"
   *  = from that image's own backbone features, as for every other image; "parent" = as to the image it was cut
   *  from (a control whose neurons ignore where the salient region is). */
  newImages: z.enum(["features", "parent"]).default("features"),
});

export const protocolSchema = z
  .strictObject({
    version: z.literal(1, { error: "expected version: 1" }),
    name: z.string().min(1),
    description: z.string().default(""),
    seed: positiveInt("seed for every random choice of the day").min(0),
    stimulusSets: z
      .array(stimulusSetSchema)
      .min(1, "expected at least one stimulus set")
      .refine((sets) => sets.some((s) => s.role === "preferred"), {
        message: "expected a set with role: preferred (the phase-1 images)",
      }),
    presentation: presentationSchema,
    phase2: phase2Schema,
    phase3: phase3Schema.optional(),
    windows: windowsSchema,
    model: modelSchema,
    selection: selectionSchema,
    checks: checksSchema,
    visualization: visualizationSchema,
    synthesis: synthesisSchema.optional(),
    simulation: simulationSchema.optional(),
  })
  .superRefine((p, ctx) => {
    // The selectivity check compares one mean per stimulus: with n objects and m control bodies per channel, the
    // smallest two-sided exact Mann-Whitney p is 2 / C(n + m, n). A design where it cannot reach α is refused.
    const s = p.selection;
    const n = s.topObjects + s.bottomObjects + s.mostSimilarObjects;
    const m = s.controlTop + s.controlBottom + s.controlMostSimilar;
    const alpha = p.checks.selectivityAlpha;
    if (n === 0 || m === 0) return;
    let ways = 1;
    for (let i = 1; i <= n; i++) ways = (ways * (m + i)) / i;
    const smallest = Math.min(1, 2 / ways);
    if (smallest >= alpha)
      ctx.addIssue({
        code: "custom",
        path: ["checks", "selectivityAlpha"],
        message:
          `an α above ${smallest.toPrecision(3)}, the smallest two-sided Mann-Whitney p that ${n} objects against ` +
          `${m} control bodies per channel (selection.*) can reach over per-stimulus means, or more of them per ` +
          "channel (4 and 4 reach 0.029): as it stands no channel can pass selectivity",
      });
  });

export type Protocol = z.infer<typeof protocolSchema>;
export type StimulusSetSpec = z.infer<typeof stimulusSetSchema>;
export type ResponseWindow = z.infer<typeof windowSchema>;
export type StimulusRole = (typeof stimulusRoles)[number];
export type SynthesisSpec = z.infer<typeof synthesisSchema>;
export type Phase3Spec = z.infer<typeof phase3Schema>;
