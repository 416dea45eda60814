// `ephysloop saliency`: shared-feature maps (Lappe et al. 2024) of one channel's readout for one image pair.
//   ephysloop saliency [--weights FILE] --arch resnet18|resnet50 --variant torchvision|keras --layer NAME
//     --readout READOUT.json --out-image A --in-image B [--sigma PX] [--epsilon E] [--method gradient|ig|unweighted]
//     [--ig-steps M] [--size PX] [--executor auto|onnx|tfjs] --out DIR
// READOUT.json: {location: [x, y], weights: [...]} (a stored Gaussian readout's JSON works too). Writes into DIR:
// out_map.npy, in_map.npy ([H, W, 3] float32), overlay.png (A | B, one scale), object_overlay.png (A: x_out, the
// out-of-category image), body_overlay.png (B: x_in, the in-category image),
// summary.json. Without --weights: the embedded Keras ResNet-50. Gradients run on the engine --executor picks (auto:
// ONNX Runtime's VJP graph when it loads, else tfjs); summary.json names it (gradientEngine).
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { z } from "zod";
import type { Arch, Variant } from "../../analysis/backbone/description.ts";
import { EphysError } from "../../analysis/errors.ts";
import { writeNpy } from "../../analysis/features/index.ts";
import {
  loadGradientBackbone,
  pairOverlay,
  type RGBBytes,
  SALIENCY_METHODS,
  type SaliencyImage,
  type SaliencyMethod,
  type SharedFeatureResult,
  sharedFeatureMaps,
} from "../../analysis/saliency/index.ts";
import type { Config } from "../../config/index.ts";
import { encodePng, loadImageRGB } from "../../stimuli/index.ts";
import { describeIssues } from "../wire/errors.ts";
import { choiceFlag } from "./flags.ts";

export class SaliencyCommandError extends EphysError<"EPHYS_BAD_SALIENCY_COMMAND"> {
  constructor(message: string) {
    super("EPHYS_BAD_SALIENCY_COMMAND", message);
  }
}

/** Command-line flags (strings as commander gives them). */
export interface SaliencyFlags {
  arch?: string;
  variant?: string;
  layer?: string;
  readout?: string;
  outImage?: string;
  inImage?: string;
  sigma?: string;
  epsilon?: string;
  method?: string;
  igSteps?: string;
  size?: string;
  out?: string;
}

const readoutFileSchema = z.object({
  location: z.tuple([z.number().min(-1).max(1), z.number().min(-1).max(1)]),
  weights: z.array(z.number()).min(1),
});

/** The files one pair's maps are written to, relative to their folder. */
export const SALIENCY_FILES = {
  outMap: "out_map.npy",
  inMap: "in_map.npy",
  overlay: "overlay.png",
  outOverlay: "object_overlay.png",
  inOverlay: "body_overlay.png",
  summary: "summary.json",
} as const;

/** What summary.json holds. */
export interface SaliencySummary {
  s: number;
  k: number;
  dropped: number;
  normOut: number;
  normIn: number;
  method: SaliencyMethod;
  epsilon: number;
  sigma: number;
  channels: number;
  topFeatures: Array<{ index: number; beta: number }>;
  gradientSeconds: number;
  /** The gradient engine that ran (e.g. "onnx on cuda (onnxruntime-node 1.30.0, 2 threads, …)" or "tfjs-wasm"). */
  gradientEngine: string;
  [extra: string]: unknown;
}

const png = (im: RGBBytes) => encodePng(im.data, im.width, im.height, 3);

/** Write the maps (.npy), the overlays (.png) and summary.json (with `extra` fields) into `dir`. */
export async function writeSaliencyFiles(
  dir: string,
  xOut: SaliencyImage,
  xIn: SaliencyImage,
  result: SharedFeatureResult,
  extra: Record<string, unknown> = {},
): Promise<SaliencySummary> {
  await mkdir(dir, { recursive: true });
  const overlay = pairOverlay(xOut, result.outMap, xIn, result.inMap);
  const summary: SaliencySummary = {
    s: result.s,
    k: result.k,
    dropped: result.dropped,
    normOut: result.normOut,
    normIn: result.normIn,
    method: result.method,
    epsilon: result.epsilon,
    sigma: result.sigma,
    channels: result.channels,
    topFeatures: result.topFeatures,
    gradientSeconds: result.gradientSeconds,
    gradientEngine: result.gradientEngine,
    overlayScale: overlay.scale,
    ...extra,
  };
  await Promise.all([
    writeNpy(join(dir, SALIENCY_FILES.outMap), result.outMap, result.outShape),
    writeNpy(join(dir, SALIENCY_FILES.inMap), result.inMap, result.inShape),
    png(overlay.pair).then((b) => writeFile(join(dir, SALIENCY_FILES.overlay), b)),
    png(overlay.out).then((b) => writeFile(join(dir, SALIENCY_FILES.outOverlay), b)),
    png(overlay.in).then((b) => writeFile(join(dir, SALIENCY_FILES.inOverlay), b)),
    writeFile(join(dir, SALIENCY_FILES.summary), `${JSON.stringify(summary, null, 2)}\n`),
  ]);
  return summary;
}

function numberFlag(
  flag: string,
  raw: string | undefined,
  fallback: number,
  ok: (v: number) => boolean,
  expected: string,
): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!ok(v)) throw new SaliencyCommandError(`--${flag}: got ${JSON.stringify(raw)}, expected ${expected}`);
  return v;
}

function required(flag: string, v: string | undefined): string {
  if (!v) throw new SaliencyCommandError(`--${flag}: required`);
  return v;
}

async function readReadout(path: string): Promise<{ location: [number, number]; weights: number[] }> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, "utf8"));
  } catch (e) {
    throw new SaliencyCommandError(`--readout: cannot read ${path} as JSON (${(e as Error).message})`);
  }
  const parsed = readoutFileSchema.safeParse(json);
  if (!parsed.success) {
    throw new SaliencyCommandError(
      `--readout: ${path}: ${describeIssues(parsed.error, json)}; expected {location: [x, y] in [−1, 1]², weights: [numbers]}`,
    );
  }
  return parsed.data as { location: [number, number]; weights: number[] };
}

/** Run the command: compute the maps and write the files; returns the summary (also printed by the CLI). */
export async function saliencyCommand(config: Config, flags: SaliencyFlags): Promise<SaliencySummary> {
  const weightsPath = config.weights.path;
  const own = weightsPath !== undefined && !weightsPath.endsWith(".json");
  const arch =
    choiceFlag<Arch>("arch", flags.arch, ["resnet18", "resnet50"], SaliencyCommandError) ??
    (own ? config.weights.arch : "resnet50");
  const variant =
    choiceFlag<Variant>("variant", flags.variant, ["torchvision", "keras"], SaliencyCommandError) ??
    (own ? config.weights.variant : "keras");
  const layer = flags.layer ?? "layer4.1";
  const method = choiceFlag("method", flags.method, SALIENCY_METHODS, SaliencyCommandError) ?? "gradient";
  const sigma = numberFlag(
    "sigma",
    flags.sigma,
    4,
    (v) => Number.isFinite(v) && v >= 0,
    "a smoothing σ in pixels ≥ 0",
  );
  const epsilon = numberFlag("epsilon", flags.epsilon, 0.01, (v) => v >= 0 && v < 1, "a fraction in [0, 1)");
  const igSteps = numberFlag(
    "ig-steps",
    flags.igSteps,
    16,
    (v) => Number.isInteger(v) && v >= 1,
    "a whole number ≥ 1",
  );
  const size = numberFlag(
    "size",
    flags.size,
    224,
    (v) => Number.isInteger(v) && v >= 32,
    "a whole number of pixels ≥ 32",
  );
  const readout = await readReadout(resolve(required("readout", flags.readout)));
  const outDir = resolve(required("out", flags.out));
  const [xOut, xIn] = await Promise.all([
    loadImageRGB(resolve(required("out-image", flags.outImage)), size),
    loadImageRGB(resolve(required("in-image", flags.inImage)), size),
  ]);
  const backbone = await loadGradientBackbone(
    { arch, variant, layer, weightsPath },
    {
      engine: config.compute.executor,
      threads: config.compute.threads,
      tfjsBackend: config.compute.tfjsBackend,
      device: config.compute.device,
    },
  );
  try {
    const result = await sharedFeatureMaps({
      backbone,
      tap: layer,
      readout,
      xOut,
      xIn,
      sigma,
      epsilon,
      method,
      igSteps,
    });
    return await writeSaliencyFiles(outDir, xOut, xIn, result, {
      arch,
      variant,
      layer,
      weights: weightsPath ?? "embedded Keras ResNet-50",
      outImage: resolve(flags.outImage!),
      inImage: resolve(flags.inImage!),
      size,
      location: readout.location,
      ...(method === "ig" ? { igSteps } : {}),
    });
  } finally {
    backbone.dispose();
  }
}
