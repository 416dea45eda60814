// /processing: the models fitted between the phases and the maps that explain them.
//   readouts (ProcessingModule) / gaussian_readouts: per channel the fitted Gaussian readout on the backbone's
//     feature map: location μ (x along the width, y along the height, grid units in [−1, 1]), σ, the weights over
//     the C features at μ, bias, best epoch, validation-loss curve and held-out test r; `unit` is the channel's row
//     in /units.
//   shared_features (ProcessingModule): shared_feature_pairs, per explained channel the (object, body) pair and
//     the numbers of its shared-feature maps (s, k, dropped β mass, norms; Lappe et al. 2024), and saliency_maps,
//     the maps I(x_out) and I(x_in) themselves as float32 [height, width, RGB] images at input resolution.
import { join } from "node:path";
import { readNpy } from "../../../analysis/features/index.ts";
import type { GaussianReadoutJSON } from "../../../analysis/readout/index.ts";
import type { SessionStore } from "../../store/store.ts";
import { type Dataset, type Group, H5, numericDataset, refDataset, textAttr } from "./h5.ts";
import { endsOf, markType, safeNames, TableWriter, typedGroup } from "./hdmf.ts";

/** The saliency folder's map files (controller/commands/saliency.ts SALIENCY_FILES). */
const MAP_FILES = { object: "out_map.npy", body: "in_map.npy" } as const;

export interface ProcessingInput {
  store: SessionStore;
  sessionId: string;
  units: Group;
  /** Channel id → row of /units. */
  unitOf: Map<string, number>;
  /** Words about the backbone the readouts sample (arch, variant, layer, image size, weights sha256). */
  backbone: string;
}

const finite = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : Number.NaN);

export async function writeProcessing(processing: Group, o: ProcessingInput): Promise<string[]> {
  const notes: string[] = [];
  writeReadouts(processing, o, notes);
  await writeSharedFeatures(processing, o, notes);
  return notes;
}

function writeReadouts(processing: Group, o: ProcessingInput, notes: string[]): void {
  const models = o.store.models(o.sessionId);
  const others = models.filter((m) => m.kind !== "gaussian-readout");
  if (others.length)
    notes.push(
      `Models of other kinds than gaussian-readout are not exported: ${others.map((m) => `${m.channelId} (${m.kind})`).join(", ")}.`,
    );
  const readouts = models
    .filter((m) => m.kind === "gaussian-readout")
    .map((m) => m.params as GaussianReadoutJSON)
    .filter((r) => {
      if (o.unitOf.has(r.channelId)) return true;
      notes.push(`The readout of channel ${r.channelId}, which is not in /units, is not exported.`);
      return false;
    });
  if (readouts.length === 0) return;
  const module = typedGroup(processing, "readouts", "ProcessingModule", "core");
  textAttr(
    module,
    "description",
    `Per-channel Gaussian readouts fitted between the phases on the backbone ${o.backbone}: r(x) = w · a(x at μ) + b.`,
  );
  const t = new TableWriter(module, "gaussian_readouts", readouts.length, {
    description: "One fitted readout per channel (the phase-1 fit that chose the phase-2 stimuli).",
  });
  t.text(
    "channel_id",
    "The channel.",
    readouts.map((r) => r.channelId),
  );
  t.region(
    "unit",
    "The channel's row in /units.",
    o.units,
    Int32Array.from(readouts, (r) => o.unitOf.get(r.channelId)!),
  );
  t.numbers(
    "location",
    "μ: readout position on the feature map, [x (width), y (height)] in grid units (−1 … 1, align_corners).",
    Float64Array.from(readouts.flatMap((r) => [finite(r.location?.[0]), finite(r.location?.[1])])),
    H5.f64,
    2,
  );
  t.numbers(
    "sigma",
    "σ: the training-time sampling scale per axis, grid units.",
    Float64Array.from(readouts.flatMap((r) => [finite(r.sigma?.[0]), finite(r.sigma?.[1])])),
    H5.f64,
    2,
  );
  const widths = readouts.map((r) => (Array.isArray(r.weights) ? r.weights.length : 0));
  const weights = Float32Array.from(
    readouts.flatMap((r) => (Array.isArray(r.weights) ? r.weights.map(finite) : [])),
  );
  if (widths.every((w) => w === widths[0]) && widths[0] > 0)
    t.numbers(
      "weights",
      "w: one weight per backbone feature (channel of the feature map).",
      weights,
      H5.f32,
      widths[0],
    );
  else
    t.ragged(
      "weights",
      "w: one weight per backbone feature (channel of the feature map).",
      weights,
      H5.f32,
      endsOf(widths),
    );
  t.numbers(
    "bias",
    "b, in response units (spikes/s).",
    Float64Array.from(readouts, (r) => finite(r.bias)),
    H5.f64,
  );
  t.numbers(
    "best_epoch",
    "The epoch (0-based) with the lowest validation loss, whose parameters these are.",
    Int32Array.from(readouts, (r) => (Number.isInteger(r.bestEpoch) ? r.bestEpoch : -1)),
    H5.i32,
  );
  const curves = readouts.map((r) => (Array.isArray(r.valLossCurve) ? r.valLossCurve.map(finite) : []));
  t.ragged(
    "val_loss_curve",
    "Validation MSE after each epoch, in units of the training-target variance.",
    Float64Array.from(curves.flat()),
    H5.f64,
    endsOf(curves.map((c) => c.length)),
  );
  t.numbers(
    "test_r",
    "Pearson r of the predictions with the recorded responses on the held-out test images (NaN: < 3 images).",
    Float64Array.from(readouts, (r) => finite(r.testR)),
    H5.f64,
  );
  t.finish();
}

interface SaliencyMeta {
  s?: unknown;
  k?: unknown;
  dropped?: unknown;
  normOut?: unknown;
  normIn?: unknown;
  objectId?: unknown;
  bodyId?: unknown;
  method?: unknown;
  epsilon?: unknown;
  sigma?: unknown;
}

async function writeSharedFeatures(processing: Group, o: ProcessingInput, notes: string[]): Promise<void> {
  // The newest saliency artifact of each channel (a re-run of `ephysloop explain` replaces the day's).
  const newest = new Map<string, { path: string | null; meta: SaliencyMeta }>();
  for (const a of o.store.artifacts(o.sessionId, "saliency"))
    if (a.channelId) newest.set(a.channelId, { path: a.path, meta: (a.meta ?? {}) as SaliencyMeta });
  const pairs = [...newest.entries()].filter(([ch]) => o.unitOf.has(ch));
  if (pairs.length === 0) return;
  const module = typedGroup(processing, "shared_features", "ProcessingModule", "core");
  textAttr(
    module,
    "description",
    "Shared-feature visualization (Lappe et al. 2024): for each included channel the most similar (object, body) " +
      "pair among its top drivers and the parallel-backprop saliency maps of both images on the channel's readout.",
  );
  const maps: Dataset[] = [];
  const mapIndex = {
    object: new Int32Array(pairs.length).fill(-1),
    body: new Int32Array(pairs.length).fill(-1),
  };
  let images: Group | null = null;
  const names = safeNames(pairs.flatMap(([ch]) => [`${ch}:object`, `${ch}:body`]));
  for (const [i, [ch, a]] of pairs.entries()) {
    for (const [j, which] of (["object", "body"] as const).entries()) {
      if (!a.path) {
        notes.push(`The saliency artifact of channel ${ch} names no folder; its maps are not exported.`);
        break;
      }
      const file = join(a.path, MAP_FILES[which]);
      let map: Awaited<ReturnType<typeof readNpy>>;
      try {
        map = await readNpy(file);
      } catch (e) {
        notes.push(`The ${which} saliency map of channel ${ch} could not be read (${(e as Error).message}).`);
        continue;
      }
      if (map.shape.length !== 3 || map.shape[2] !== 3) {
        notes.push(`${file}: shape ${JSON.stringify(map.shape)}, expected [height, width, 3]; not exported.`);
        continue;
      }
      if (!images) {
        images = typedGroup(module, "saliency_maps", "Images", "core");
        textAttr(
          images,
          "description",
          "I(x) per input pixel and colour channel, float32 [height, width, RGB]; <channel>:object is I(x_out), <channel>:body is I(x_in).",
        );
      }
      const ds = numericDataset(images, names[2 * i + j], map.data, H5.f32, map.shape);
      markType(ds, "RGBImage", "core");
      const image = String(which === "object" ? a.meta.objectId : a.meta.bodyId);
      textAttr(ds, "description", `shared-feature map of channel ${ch} on ${which} ${image} (${file})`);
      mapIndex[which][i] = maps.length;
      maps.push(ds);
    }
  }
  if (images) markType(refDataset(images, "order_of_images", maps), "ImageReferences", "core");
  const t = new TableWriter(module, "shared_feature_pairs", pairs.length, {
    description: "Per explained channel: the image pair, s(x_out, x_in) and how its maps were computed.",
  });
  t.text(
    "channel_id",
    "The channel.",
    pairs.map(([ch]) => ch),
  );
  t.region(
    "unit",
    "The channel's row in /units.",
    o.units,
    Int32Array.from(pairs, ([ch]) => o.unitOf.get(ch)!),
  );
  t.text(
    "object_stimulus",
    "x_out: the out-of-category image (an object).",
    pairs.map(([, a]) => String(a.meta.objectId ?? "")),
  );
  t.text(
    "body_stimulus",
    "x_in: the in-category image (a body).",
    pairs.map(([, a]) => String(a.meta.bodyId ?? "")),
  );
  const num = (name: string, description: string, key: keyof SaliencyMeta) =>
    t.numbers(
      name,
      description,
      Float64Array.from(pairs, ([, a]) => finite(a.meta[key])),
      H5.f64,
    );
  num("s", "Neuron-specific similarity s(x_out, x_in) = Σ β_i.", "s");
  num("k", "Features whose gradients make the maps (carrying the β mass).", "k");
  num("dropped", "Σ|β| of the features left out: an exact bound on the error of each map.", "dropped");
  num("norm_out", "‖a(x_out) ⊙ w‖.", "normOut");
  num("norm_in", "‖a(x_in) ⊙ w‖.", "normIn");
  num("epsilon", "Allowed dropped β mass as a fraction of s.", "epsilon");
  num("sigma", "Gaussian smoothing of each gradient, pixels.", "sigma");
  t.text(
    "method",
    "gradient, integrated gradients (ig) or unweighted.",
    pairs.map(([, a]) => String(a.meta.method ?? "")),
  );
  t.numbers("object_map", "Index of I(x_out) in saliency_maps (-1: not exported).", mapIndex.object, H5.i32);
  t.numbers("body_map", "Index of I(x_in) in saliency_maps (-1: not exported).", mapIndex.body, H5.i32);
  t.finish();
}
