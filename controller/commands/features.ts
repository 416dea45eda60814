// `ephysloop features`: backbone features of stimuli, cached on disk or written to a .npy file.
//   ephysloop features PROTOCOL      every stimulus of the protocol's sets, with its model (backbone, variant,
//                                    layer, imageSize), cached under <dataDir>/features
//   ephysloop features DIR           every .png/.jpg/.jpeg in DIR, with the config's weights, cached likewise
//   ephysloop features --out F.npy IMAGE...   one float32 NHWC array [images, H, W, C] (not cached: full precision)
// A progress bar with rate and ETA goes to stderr (when it is a terminal); the summary to stdout.
// Ctrl-C stops between batches; entries already written stay, and the next run resumes from them.
import { readdirSync, statSync } from "node:fs";
import { extname, join, resolve } from "node:path";
import { Presets, SingleBar } from "cli-progress";
import type { Arch, Variant } from "../../analysis/backbone/description.ts";
import { EphysError } from "../../analysis/errors.ts";
import type { FeatureExtractorOptions } from "../../analysis/features/index.ts";
import {
  computeFeatures,
  type FeatureProgress,
  type StimulusImage,
  writeNpy,
} from "../../analysis/features/index.ts";
import { type Config, resolvePaths } from "../../config/index.ts";
import { loadProtocol, resolveManifest } from "../../protocols/index.ts";
import { hashStimulusSet, sha256File } from "../../stimuli/index.ts";
import { createFeaturePool } from "../compute/feature-pool.ts";
import { choiceFlag, wholeFlag } from "./flags.ts";

const IMAGE_EXTENSIONS = new Set([".png", ".jpg", ".jpeg"]);
const ARCHS: readonly Arch[] = ["resnet18", "resnet50"];
const VARIANTS: readonly Variant[] = ["torchvision", "keras"];

/** Command-line flags of `features` (strings as commander gives them). */
export interface FeaturesFlags {
  arch?: string;
  variant?: string;
  layer?: string;
  size?: string;
  batchSize?: string;
  out?: string;
}

/** What one run computes: which images, with which model, cached where or written to which file. */
export interface FeaturesJob {
  form: "protocol" | "dir" | "npy";
  images: StimulusImage[];
  model: { arch: Arch; variant: Variant; layer: string; imageSize: number; weightsPath?: string };
  /** Cache root, or null for --out (nothing cached). */
  root: string | null;
  out: string | null;
  batchSize: number;
}

export class FeaturesCommandError extends EphysError<"EPHYS_BAD_FEATURES_COMMAND"> {
  constructor(message: string) {
    super("EPHYS_BAD_FEATURES_COMMAND", message);
  }
}

const wholeNumber = (flag: string, raw: string | undefined, fallback: number, min: number) =>
  wholeFlag(flag, raw, fallback, min, FeaturesCommandError);

/**
 * Model of a DIR or --out run: flags, else the config's weights (a .safetensors with its arch and variant),
 * else the embedded Keras ResNet-50 (arch resnet50, variant keras).
 */
function modelFromConfig(config: Config, flags: FeaturesFlags): FeaturesJob["model"] {
  const own = config.weights.path !== undefined;
  return {
    arch:
      choiceFlag("arch", flags.arch, ARCHS, FeaturesCommandError) ?? (own ? config.weights.arch : "resnet50"),
    variant:
      choiceFlag("variant", flags.variant, VARIANTS, FeaturesCommandError) ??
      (own ? config.weights.variant : "keras"),
    layer: flags.layer ?? "layer4.1",
    imageSize: wholeNumber("size", flags.size, 224, 1),
    weightsPath: config.weights.path,
  };
}

async function hashFiles(paths: string[]): Promise<StimulusImage[]> {
  const out: StimulusImage[] = [];
  for (let i = 0; i < paths.length; i += 8) {
    const chunk = paths.slice(i, i + 8);
    const sums = await Promise.all(chunk.map((p) => sha256File(p)));
    chunk.forEach((p, j) => {
      out.push({
        id: p
          .split("/")
          .at(-1)!
          .replace(/\.[^.]+$/, ""),
        path: p,
        sha256: sums[j],
      });
    });
  }
  return out;
}

/** Resolve the targets and flags into a job (hashing every image); throws FeaturesCommandError on bad input. */
export async function resolveFeaturesJob(
  config: Config,
  targets: string[],
  flags: FeaturesFlags,
): Promise<FeaturesJob> {
  const batchSize = wholeNumber("batch-size", flags.batchSize, 8, 1);
  const root = join(resolvePaths(config).dataDir, "features");
  if (flags.out !== undefined) {
    if (!flags.out.endsWith(".npy")) {
      throw new FeaturesCommandError(
        `--out: got ${JSON.stringify(flags.out)}, expected a file name ending in .npy`,
      );
    }
    if (targets.length === 0)
      throw new FeaturesCommandError("IMAGE...: expected at least one image file with --out");
    const paths = targets.map((t) => resolve(t));
    for (const p of paths) {
      if (!statSync(p, { throwIfNoEntry: false })?.isFile()) {
        throw new FeaturesCommandError(`IMAGE: ${p} is not a file; expected an image file (png, jpg)`);
      }
    }
    return {
      form: "npy",
      images: await hashFiles(paths),
      model: modelFromConfig(config, flags),
      root: null,
      out: resolve(flags.out),
      batchSize,
    };
  }
  if (targets.length !== 1) {
    throw new FeaturesCommandError(
      `expected one PROTOCOL file or DIR of images (or --out FILE.npy IMAGE...); got ${targets.length} arguments`,
    );
  }
  const target = resolve(targets[0]);
  const stat = statSync(target, { throwIfNoEntry: false });
  if (stat?.isDirectory()) {
    const files = readdirSync(target)
      .filter((f) => IMAGE_EXTENSIONS.has(extname(f).toLowerCase()))
      .sort()
      .map((f) => join(target, f))
      .filter((p) => statSync(p).isFile());
    if (files.length === 0) throw new FeaturesCommandError(`DIR: ${target} holds no .png or .jpg images`);
    return {
      form: "dir",
      images: await hashFiles(files),
      model: modelFromConfig(config, flags),
      root,
      out: null,
      batchSize,
    };
  }
  if (!stat?.isFile()) throw new FeaturesCommandError(`${targets[0]}: no such protocol file or folder`);
  const loaded = loadProtocol(target);
  const m = loaded.protocol.model;
  const images: StimulusImage[] = [];
  for (const set of loaded.protocol.stimulusSets) {
    const hashed = await hashStimulusSet(resolveManifest(loaded, set.manifest));
    for (const img of hashed.images)
      images.push({ id: `${set.id}/${img.id}`, path: img.path, sha256: img.sha256 });
  }
  const own = config.weights.path !== undefined;
  return {
    form: "protocol",
    images,
    model: {
      arch: choiceFlag("arch", flags.arch, ARCHS, FeaturesCommandError) ?? m.backbone,
      // The embedded weights are the Keras ResNet-50; a lab's own .safetensors are torchvision-layout (as serve).
      variant:
        choiceFlag("variant", flags.variant, VARIANTS, FeaturesCommandError) ??
        (own ? config.weights.variant : m.variant),
      layer: flags.layer ?? m.layer,
      imageSize: wholeNumber("size", flags.size, m.imageSize, 1),
      weightsPath: config.weights.path,
    },
    root,
    out: null,
    batchSize,
  };
}

function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds)) return "-";
  const s = Math.round(seconds);
  return s >= 3600
    ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`
    : s >= 60
      ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`
      : `${s}s`;
}

/** Run a resolved job: progress bar on stderr, summary on stdout. */
export async function runFeaturesJob(config: Config, job: FeaturesJob): Promise<void> {
  const options: FeatureExtractorOptions = {
    ...job.model,
    executor: config.compute.executor,
    tfjsBackend: config.compute.tfjsBackend,
    threads: config.compute.threads,
    device: config.compute.device,
  };
  const extractor = await createFeaturePool(options);
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once("SIGINT", onSigint);
  const bar = new SingleBar(
    {
      stream: process.stderr,
      format: "features |{bar}| {value}/{total} images | {rate} img/s | ETA {etaText} | {cached} cached",
      hideCursor: true,
    },
    Presets.shades_classic,
  );
  try {
    const [h, w, c] = extractor.featureShape(job.model.imageSize);
    const sha = extractor.weightsSha256.slice(0, 16);
    console.error(
      `features: ${job.images.length} images, ${extractor.arch}/${extractor.variant} ${extractor.layer} ` +
        `at ${job.model.imageSize} px → [${h}, ${w}, ${c}]; weights ${extractor.weightsSource} (sha256 ${sha}…); ` +
        `executor ${extractor.description}`,
    );
    bar.start(job.images.length, 0, { rate: "-", etaText: "-", cached: 0 });
    const onProgress = (p: FeatureProgress) =>
      bar.update(p.done, {
        rate: p.rate > 0 ? p.rate.toFixed(1) : "-",
        etaText: formatEta(p.etaS),
        cached: p.cached,
      });
    const maps = await computeFeatures({
      images: job.images,
      extractor,
      root: job.root ?? undefined,
      imageSize: job.model.imageSize,
      batchSize: job.batchSize,
      onProgress,
      signal: abort.signal,
    });
    bar.stop();
    if (job.out !== null) {
      await writeNpy(job.out, maps.data, [maps.n, maps.h, maps.w, maps.c]);
      console.log(`${job.out}: float32 [${maps.n}, ${maps.h}, ${maps.w}, ${maps.c}] (NHWC)`);
    } else {
      console.log(`${maps.n} images: ${maps.cached} cached, ${maps.computed} computed → ${maps.dir}`);
    }
  } finally {
    bar.stop();
    process.removeListener("SIGINT", onSigint);
    await extractor.dispose();
  }
}

/** The `features` action: errors with a `code` become one line on stderr and exit code 1. */
export async function featuresCommand(
  config: Config,
  targets: string[],
  flags: FeaturesFlags,
): Promise<void> {
  try {
    await runFeaturesJob(config, await resolveFeaturesJob(config, targets, flags));
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== "string" || !code.startsWith("EPHYS_")) throw e;
    console.error(`error: ${(e as Error).message} (${code})`);
    process.exitCode = 1;
  }
}
