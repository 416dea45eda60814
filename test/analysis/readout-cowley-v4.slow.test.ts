// Real V4 neurons (Cowley et al. 2023, session 210325: 50 neurons × 640 images × ≤ 10 repeats of 100 ms spike
// counts) held to the standard of a recording day: a seeded random split of the 640 images into 480 training,
// 60 validation and 100 test images (the image files are ordered by category, so "the last 100" would test mostly
// one category the models never saw); every choice — the Gaussian readout's λ and lr, ridge's α per neuron, the
// readout's epoch — made on the validation images; the test images scored once, by the median over neurons of the
// noise-corrected R² (r² on the test images over the neuron's split-half reliability, Spearman–Brown, over all 640
// images: the ceiling on r² of the repeat means; estimated on the 100 test images alone it is noisy enough that a
// resample of them can take it to ≤ 0, seen on seed 2), with bootstrap 95 % intervals. The tap is the protocol's
// (and the paper's) layer4.1 of the embedded Keras ResNet-50.
//
// Models, all trained on the same 480 images:
//   Gaussian readout  protocols/body-patch.yaml's fit (epochs, early stopping on the validation loss) at the
//                     protocol's λ 6, lr 2e-3. With COWLEY_GRID=cross, λ and lr from a cross around it: lr 1e-3 /
//                     2e-3 / 5e-3 at λ 6, λ 3 / 12 at lr 2e-3, the one with the best median validation r (for seed 1
//                     the cross chooses the protocol's point, so both runs assert the same numbers).
//   ridge, full map   the 7×7×2048 map (100,352 dims: the spatial layout a V4 receptive field needs, and what the
//                     readout chooses one location of); dual form with an unpenalized intercept, α per neuron from
//                     17 values (10^−4 … 10^4 × the mean squared norm of the centered training rows) by the
//                     validation r.
//   ridge, pooled     the same on the global average pool (2048 dims; the authors' quick protocol, ridge on a pooled
//                     Keras ResNet-50 map, gave ≈ 0.40 on the last 100 images).
// Neurons: those with split-half reliability > 0.1 on the 540 training + validation images (chosen before any model).
//
// Intervals (percentile bootstrap, 1000 resamples each, paired across models):
//   over test images — resample the 100 test images, recompute every neuron's r on the resample (its reliability, from
//     all 640 images, fixed), take the median: the uncertainty of this session's score from which 100 images were
//     held out. This is the interval for "does the readout trail ridge on these neurons".
//   over neurons — resample the kept neurons, per-neuron scores fixed: the uncertainty from which neurons were
//     recorded, for a claim about V4 neurons like these.
// Neither covers the split itself (another seed trains on other images): COWLEY_SPLIT_SEED=n reruns with another
// split (the assertions are for seed 1).
//
// Measured (`COWLEY_GRID=cross npx vitest run test/analysis/readout-cowley-v4.slow.test.ts`, 164 s on the shared
// 2-core machine, up to 4.6 min when other work loads it; median noise-corrected R², 95 % intervals over test images
// / over neurons):
//   seed 1 (asserted): validation chose λ 6, lr 2e-3 (median validation r 0.590–0.598 over the five: a near tie)
//     Gaussian readout 0.407 [0.354, 0.467] / [0.331, 0.460]    (median r 0.552)
//     ridge full map   0.466 [0.423, 0.535] / [0.431, 0.513]    (median r 0.578)
//     ridge pooled     0.361 [0.309, 0.419] / [0.325, 0.395]    (median r 0.512)
//     readout − full-map ridge −0.059 [−0.127, −0.009] / [−0.119, −0.012]: the readout TRAILS the full-map ridge
//     readout − pooled ridge   +0.046 [−0.015, 0.109] / [−0.023, 0.103]: above the pooled ridge, within noise
//   seed 2: λ 12 chosen; readout 0.398, full 0.480, pooled 0.340; readout − full −0.082 [−0.156, −0.045]
//   seed 3: λ 3 chosen;  readout 0.433, full 0.472, pooled 0.384; readout − full −0.039 [−0.119, 0.007]
// (A re-run of the earlier version of this test on one random split had given 0.410 / 0.494 / 0.357.)
// The fits' validation loss is lowest, for the median neuron, around epoch 20–55 at λ ≤ 6: mostly inside the
// fit's 50-epoch warm-up (see docs/protocol.md).
//
// Independent references: the dual-form ridge against SciPy's primal solve (test/reference/cowley_ridge_reference.py,
// fixture); and, inside this suite, test/reference/cowley_bootstrap_reference.py recomputes from a dump of this run
// the pooled ridge (numpy primal solve via SVD, its own α choice), every neuron's split-half reliability (on the same
// half assignments) and r (scipy.stats.pearsonr), the medians and the bootstrap percentiles (numpy.percentile) on the
// same resample indices.
//
// Slow (features of 640 images: ~30 s cold, cached in os.tmpdir()/ephysloop-cowley-features; a readout fit of ~25 s,
// five with COWLEY_GRID=cross), hence *.slow.test.ts. Data from ../shared/data (never copied into the repo).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectTfjsBackend } from "../../analysis/backbone/tfjs-backend.ts";
import { computeFeatures, createFeatureExtractor } from "../../analysis/features/index.ts";
import {
  type FeatureMaps,
  fitGaussianReadouts,
  predict,
  selectImages,
  splitStimuli,
} from "../../analysis/readout/index.ts";
import { noiseCorrectedR2, splitHalfReliability } from "../../analysis/stats/index.ts";
import { loadProtocol } from "../../protocols/load.ts";
import {
  bootstrapMedians,
  columnMeans,
  gram,
  kernelRidge,
  type ModelScores,
  median,
  pearsonAt,
  poolMaps,
  readNpyFloat64,
  resamples,
  splitHalfMasks,
} from "./cowley-v4-numerics.ts";

const DATA = resolve("../shared/data/cowley-v4-210325");
// CI clones the repo with ../shared beside it; `unzip` comes from test/system-deps.sh.
if (!existsSync(join(DATA, "responses_210325.npy")) || !existsSync(join(DATA, "images_210325.zip")))
  throw new Error(
    `${DATA} is absent: these suites need ../shared beside the repository (see ../shared/data/README.md)`,
  );

const PYTHON = "/usr/bin/python3";
const LAYER = "layer4.1";
const MODEL = loadProtocol(resolve("protocols/body-patch.yaml")).protocol.model;
const SEED = Number(process.env.COWLEY_SPLIT_SEED ?? 1);
const SPLIT = { train: 480, validation: 60, test: 100 };
// The protocol's point alone by default (it is what the cross chose for seed 1, and what a recording day runs); the
// whole cross with COWLEY_GRID=cross, which adds four fits (~2 min) that `npm test` cannot afford.
const PROTOCOL_POINT = { lambda: MODEL.penalty.weight, lr: MODEL.learningRate };
const GRID =
  process.env.COWLEY_GRID === "cross"
    ? [
        { lambda: 6, lr: 1e-3 },
        { lambda: 6, lr: 2e-3 },
        { lambda: 6, lr: 5e-3 },
        { lambda: 3, lr: 2e-3 },
        { lambda: 12, lr: 2e-3 },
      ]
    : [PROTOCOL_POINT];
const RELIABILITY = { splits: 200, seed: 1 };
const BOOTSTRAP = 1000;
const RIDGE_ALPHAS = 17;
const NAMES = { readout: "Gaussian readout", full: "ridge full map", pooled: "ridge pooled" } as const;

describe("kernel ridge (dual form, own Cholesky) against SciPy's primal solve", () => {
  it("matches test/fixtures/cowley/ridge_reference.json to 1e-4 relative", async () => {
    await selectTfjsBackend("wasm");
    const ref = JSON.parse(
      await readFile(new URL("../fixtures/cowley/ridge_reference.json", import.meta.url), "utf8"),
    ) as {
      nFit: number;
      nQuery: number;
      d: number;
      x: number[];
      y: number[];
      alphas: number[];
      predictions: number[][];
    };
    const nAll = ref.nFit + ref.nQuery;
    const K = gram(Float32Array.from(ref.x), nAll, ref.d);
    const fit = Array.from({ length: ref.nFit }, (_, i) => i);
    const query = Array.from({ length: ref.nQuery }, (_, i) => ref.nFit + i);
    const y = Float64Array.from({ length: nAll }, (_, i) => (i < ref.nFit ? ref.y[i] : Number.NaN));
    const [preds] = kernelRidge(K, nAll, fit, query, [y], ref.alphas);
    ref.predictions.forEach((expected, a) => {
      const scale = Math.max(...expected.map(Math.abs));
      expected.forEach((v, q) => {
        expect(Math.abs(preds[a][q] - v) / scale, `α=${ref.alphas[a]} q=${q}`).toBeLessThan(1e-4);
      });
    });
  });
});

describe(`Cowley V4 session 210325: readouts on ResNet-50 ${LAYER}, random split (seed ${SEED})`, () => {
  let imageDir = "";
  let dumpDir = "";
  let features: FeatureMaps;
  let nImages = 0;
  let nRepeats = 0;
  let means: Float64Array[]; // [neuron][image] mean over present repeats
  let repeatsOf: (k: number, i: number) => number[];
  let kept: number[];
  let reliability: number[]; // per kept neuron, over all images: the noise ceiling of r²
  let testResponses: Float64Array[]; // per kept neuron, the test images' means
  const ids = Array.from({ length: 640 }, (_, i) => String(i));
  const split = splitStimuli(ids, SPLIT, SEED).rows;
  const scores = new Map<string, ModelScores>();
  const ridgeChoices = new Map<string, { alphas: number[]; chosen: number[] }>();
  let readoutChoice = { lambda: 0, lr: 0, validationR: [] as number[] };

  beforeAll(async () => {
    await selectTfjsBackend("wasm");
    imageDir = await mkdtemp(join(tmpdir(), "ephysloop-cowley-images-"));
    dumpDir = await mkdtemp(join(tmpdir(), "ephysloop-cowley-dump-"));
    execFileSync("unzip", ["-q", join(DATA, "images_210325.zip"), "-d", imageDir]);
    const raw = readNpyFloat64(await readFile(join(DATA, "responses_210325.npy")));
    const nNeurons = raw.shape[0];
    [, nImages, nRepeats] = raw.shape;
    expect(nImages).toBe(ids.length);
    const images = await Promise.all(
      ids.map(async (id, i) => {
        const path = join(imageDir, `image${String(i + 1).padStart(4, "0")}.jpg`);
        const sha256 = createHash("sha256")
          .update(await readFile(path))
          .digest("hex");
        return { id, path, sha256 };
      }),
    );
    const extractor = await createFeatureExtractor({
      arch: "resnet50",
      variant: "keras",
      layer: LAYER,
      imageSize: 224,
    });
    try {
      features = await computeFeatures({
        images,
        extractor,
        root: join(tmpdir(), "ephysloop-cowley-features"),
      });
    } finally {
      await extractor.dispose();
    }
    repeatsOf = (k, i) =>
      Array.from(raw.data.subarray((k * nImages + i) * nRepeats, (k * nImages + i + 1) * nRepeats));
    means = Array.from({ length: nNeurons }, (_, k) =>
      Float64Array.from({ length: nImages }, (_, i) => {
        const v = repeatsOf(k, i).filter((x) => !Number.isNaN(x));
        return v.reduce((a, b) => a + b, 0) / v.length;
      }),
    );
    const fitRows = [...split.train, ...split.validation];
    const fitReliability = means.map(
      (_, k) =>
        splitHalfReliability(
          fitRows.map((i) => repeatsOf(k, i)),
          RELIABILITY,
        ).reliability,
    );
    kept = fitReliability.flatMap((r, k) => (r > 0.1 ? [k] : []));
    reliability = kept.map(
      (k) =>
        splitHalfReliability(
          ids.map((_, i) => repeatsOf(k, i)),
          RELIABILITY,
        ).reliability,
    );
    testResponses = kept.map((k) => Float64Array.from(split.test, (i) => means[k][i]));
    console.log(
      `cowley-v4: ${LAYER} ${features.h}×${features.w}×${features.c}; split seed ${SEED} ` +
        `(${split.train.length}/${split.validation.length}/${split.test.length}); kept ${kept.length}/${nNeurons} ` +
        `neurons (reliability > 0.1 on the fit images, median ${median(fitReliability).toFixed(3)}); reliability ` +
        `over all images median ${median(reliability).toFixed(3)}, min ${Math.min(...reliability).toFixed(3)}`,
    );
  }, 300_000);

  afterAll(async () => {
    if (imageDir) await rm(imageDir, { recursive: true, force: true });
    if (dumpDir) await rm(dumpDir, { recursive: true, force: true });
  });

  /** Scores of test predictions given for every neuron ([neuron][test image]); kept neurons only. */
  function record(name: string, predictions: readonly ArrayLike<number>[]): ModelScores {
    const p = kept.map((k) => Float64Array.from(predictions[k]));
    const all = Array.from({ length: split.test.length }, (_, i) => i);
    const s: ModelScores = {
      name,
      predictions: p,
      r: p.map((pk, j) => pearsonAt(pk, testResponses[j], all)),
      ncR2: p.map((pk, j) => noiseCorrectedR2(pearsonAt(pk, testResponses[j], all) ** 2, reliability[j])),
    };
    scores.set(name, s);
    console.log(
      `cowley-v4 ${name}: median r ${median(s.r).toFixed(3)}, median noise-corrected R² ${median(s.ncR2).toFixed(3)}`,
    );
    return s;
  }

  it("splits at random: the test images come from every part of the category-ordered set", () => {
    const quarters = [0, 0, 0, 0];
    for (const i of split.test) quarters[Math.floor((4 * i) / nImages)]++;
    expect(Math.min(...quarters)).toBeGreaterThanOrEqual(15);
    expect(new Set([...split.train, ...split.validation, ...split.test]).size).toBe(640);
  });

  it("has reliable neurons", () => {
    // Measured: 50 of 50 kept; reliability over all images median 0.76.
    expect(kept.length).toBeGreaterThanOrEqual(40);
    expect(median(reliability)).toBeGreaterThan(0.5);
  });

  function ridge(name: string, maps: FeatureMaps): ModelScores {
    const d = maps.h * maps.w * maps.c;
    const K = gram(maps.data, maps.n, d, columnMeans(maps.data, d, split.train));
    // α on the scale of the features: the mean squared norm of the centered training rows × 10^(−4 … 4).
    let trace = 0;
    for (const i of split.train) trace += K[i * maps.n + i];
    const alphas = Array.from(
      { length: RIDGE_ALPHAS },
      (_, j) => (trace / split.train.length) * 10 ** (-4 + 0.5 * j),
    );
    // α per neuron: the best validation r of the model fitted on the training images; that model is then tested.
    const nVal = split.validation.length;
    const both = kernelRidge(K, maps.n, split.train, [...split.validation, ...split.test], means, alphas);
    const val = both.map((perAlpha) => perAlpha.map((p) => p.subarray(0, nVal)));
    const test = both.map((perAlpha) => perAlpha.map((p) => p.subarray(nVal)));
    const chosen = val.map((perAlpha, k) => {
      const all = Array.from({ length: nVal }, (_, i) => i);
      const y = Float64Array.from(split.validation, (i) => means[k][i]);
      const rs = perAlpha.map((p) => pearsonAt(p, y, all));
      return rs.indexOf(Math.max(...rs));
    });
    ridgeChoices.set(name, { alphas, chosen });
    const s = record(
      name,
      test.map((perAlpha, k) => perAlpha[chosen[k]]),
    );
    const keptChosen = kept.map((k) => chosen[k]);
    console.log(
      `cowley-v4 ${name} (${d} dims): α indices ${Math.min(...keptChosen)}…${Math.max(...keptChosen)} of ` +
        `0…${alphas.length - 1} (median ${median(keptChosen)})`,
    );
    return s;
  }

  it("ridge on global-average-pooled features predicts held-out images", () => {
    // Measured (seed 1): see MEASURED.
    const s = ridge(NAMES.pooled, poolMaps(features, features.h));
    expect(median(s.ncR2)).toBeGreaterThan(0.25);
    expect(median(s.r)).toBeGreaterThan(0.4);
  }, 60_000);

  it("ridge on the full 7×7×2048 map does better than on the pooled one", () => {
    const s = ridge(NAMES.full, features);
    expect(median(s.ncR2)).toBeGreaterThan(median(scores.get(NAMES.pooled)!.ncR2));
    expect(median(s.ncR2)).toBeGreaterThan(0.35);
  }, 120_000);

  it(`Gaussian readouts at ${GRID.length > 1 ? "λ and lr chosen on the validation images" : "the protocol's λ and lr"}`, async () => {
    const channels = means.map((y, k) => ({ channelId: `n${k}`, responses: Float32Array.from(y) }));
    const valMaps = selectImages(features, split.validation);
    const valAll = Array.from({ length: split.validation.length }, (_, i) => i);
    let best: { lambda: number; lr: number; validationR: number[]; test: ArrayLike<number>[] } | null = null;
    const lines: string[] = [];
    for (const { lambda, lr } of GRID) {
      const t0 = performance.now();
      const fitted = await fitGaussianReadouts(
        { features, channels, split: { train: split.train, validation: split.validation, test: [] } },
        { penalty: { kind: MODEL.penalty.kind, weight: lambda }, learningRate: lr, epochs: MODEL.epochs },
      );
      const validationR = kept.map((k) =>
        pearsonAt(
          predict(fitted[k], valMaps),
          Float64Array.from(split.validation, (i) => means[k][i]),
          valAll,
        ),
      );
      // Where each channel's validation loss is lowest over every epoch, warm-up included (the fit only keeps
      // parameters from epoch warm-up = 50 on).
      const lowest = fitted.map((f) => f.valLossCurve.indexOf(Math.min(...f.valLossCurve)));
      lines.push(
        `λ ${lambda}, lr ${lr}: median validation r ${median(validationR).toFixed(3)} ` +
          `(${((performance.now() - t0) / 1000).toFixed(1)} s, best epochs median ${median(fitted.map((f) => f.bestEpoch))}, ` +
          `validation-loss minimum median epoch ${median(lowest)})`,
      );
      if (!best || median(validationR) > median(best.validationR)) {
        const testMaps = selectImages(features, split.test);
        best = { lambda, lr, validationR, test: fitted.map((r) => predict(r, testMaps)) };
      }
    }
    console.log(`cowley-v4 Gaussian readout grid:\n  ${lines.join("\n  ")}`);
    readoutChoice = { lambda: best!.lambda, lr: best!.lr, validationR: best!.validationR };
    console.log(
      `cowley-v4 Gaussian readout: λ ${best!.lambda}, lr ${best!.lr} ` +
        (GRID.length > 1
          ? "chosen on the validation images"
          : "(the protocol's; COWLEY_GRID=cross to choose)"),
    );
    const s = record(NAMES.readout, best!.test);
    expect(median(s.ncR2)).toBeGreaterThan(0.3);
    expect(median(s.r)).toBeGreaterThan(0.45);
  }, 400_000);

  let boot: ReturnType<typeof bootstrapMedians>;
  const models = () => [NAMES.readout, NAMES.full, NAMES.pooled].map((n) => scores.get(n)!);
  const pairs: [string, string][] = [
    [NAMES.readout, NAMES.full],
    [NAMES.readout, NAMES.pooled],
  ];
  const imageResamples = () => resamples(split.test.length, BOOTSTRAP, 11);
  const neuronResamples = () => resamples(kept.length, BOOTSTRAP, 12);

  it("bootstrap 95 % intervals of the medians (over test images and over neurons)", () => {
    const t0 = performance.now();
    boot = bootstrapMedians(models(), testResponses, reliability, imageResamples(), neuronResamples(), pairs);
    const f = (v: { estimate: number; lo: number; hi: number }) =>
      `${v.estimate.toFixed(3)} [${v.lo.toFixed(3)}, ${v.hi.toFixed(3)}]`;
    const rows = [...Object.keys(boot.models.overImages), ...Object.keys(boot.differences.overImages)].map(
      (name) => {
        const img = boot.models.overImages[name] ?? boot.differences.overImages[name];
        const neu = boot.models.overNeurons[name] ?? boot.differences.overNeurons[name];
        return `${name.padEnd(38)} ${f(img)}   ${f(neu)}`;
      },
    );
    console.log(
      `cowley-v4 median noise-corrected R² (seed ${SEED}, ${kept.length} neurons, ${split.test.length} test images; ` +
        `λ ${readoutChoice.lambda}, lr ${readoutChoice.lr}; ${BOOTSTRAP} resamples, ` +
        `${((performance.now() - t0) / 1000).toFixed(1)} s)\n` +
        `${"".padEnd(38)} over test images        over neurons\n  ${rows.join("\n  ")}`,
    );
    for (const group of [boot.models.overImages, boot.models.overNeurons]) {
      for (const v of Object.values(group)) {
        expect(v.lo).toBeLessThanOrEqual(v.estimate);
        expect(v.hi).toBeGreaterThanOrEqual(v.estimate);
        expect(v.hi - v.lo).toBeGreaterThan(0.01);
        expect(v.hi - v.lo).toBeLessThan(0.3);
      }
    }
    // What docs/protocol.md states: the readout trails the full-map ridge (by less than 0.15) and is not below the
    // pooled ridge by more than noise.
    const vsFull = boot.differences.overImages[`${NAMES.readout} − ${NAMES.full}`];
    expect(vsFull.estimate).toBeLessThan(0);
    expect(vsFull.estimate).toBeGreaterThan(-0.15);
    expect(boot.differences.overImages[`${NAMES.readout} − ${NAMES.pooled}`].estimate).toBeGreaterThan(-0.05);
  }, 120_000);

  it("matches an independent recomputation in numpy/SciPy (cowley_bootstrap_reference.py)", async () => {
    const pooled = poolMaps(features, features.h);
    await writeFile(
      join(dumpDir, "pooled.f32"),
      Buffer.from(pooled.data.buffer, pooled.data.byteOffset, pooled.data.byteLength),
    );
    const nullable = (v: number) => (Number.isNaN(v) ? null : v);
    await writeFile(
      join(dumpDir, "dump.json"),
      JSON.stringify({
        pooled: { file: "pooled.f32", n: pooled.n, d: pooled.c },
        means: kept.map((k) => Array.from(means[k])),
        rows: split,
        ridgeAlphaCount: RIDGE_ALPHAS,
        repeats: kept.map((k) => ids.map((_, i) => repeatsOf(k, i).map(nullable))),
        masks: splitHalfMasks(nRepeats, RELIABILITY.splits, RELIABILITY.seed).map((m) => Array.from(m)),
        models: models().map((m) => ({ name: m.name, predictions: m.predictions.map((p) => Array.from(p)) })),
        pairs,
        imageResamples: imageResamples().map((r) => Array.from(r)),
        neuronResamples: neuronResamples().map((r) => Array.from(r)),
      }),
    );
    const ref = JSON.parse(
      execFileSync(PYTHON, [resolve("test/reference/cowley_bootstrap_reference.py"), dumpDir], {
        encoding: "utf8",
        maxBuffer: 1 << 26,
      }),
    ) as {
      pooledRidge: { alphas: number[]; chosen: number[]; predictions: number[][] };
      reliability: number[];
      models: Record<string, { r: number[]; median: number; overImages: number[]; overNeurons: number[] }>;
      differences: Record<string, { estimate: number; overImages: number[]; overNeurons: number[] }>;
    };
    // Pooled ridge: numpy's primal solve, with its own α choice, gives the same test predictions.
    const ours = ridgeChoices.get(NAMES.pooled)!;
    ref.pooledRidge.alphas.forEach((a, j) => {
      expect(Math.abs(a - ours.alphas[j]) / a).toBeLessThan(1e-6);
    });
    expect(ref.pooledRidge.chosen).toEqual(kept.map((k) => ours.chosen[k]));
    let worst = 0;
    scores.get(NAMES.pooled)!.predictions.forEach((p, j) => {
      const expected = ref.pooledRidge.predictions[j];
      const scale = Math.max(...expected.map(Math.abs));
      p.forEach((v, i) => {
        worst = Math.max(worst, Math.abs(v - expected[i]) / scale);
      });
    });
    expect(worst).toBeLessThan(1e-4);
    // Reliability, r, medians and the percentile intervals on the same resamples.
    ref.reliability.forEach((v, j) => {
      expect(v).toBeCloseTo(reliability[j], 10);
    });
    for (const m of models()) {
      const r = ref.models[m.name];
      r.r.forEach((v, j) => {
        expect(v).toBeCloseTo(m.r[j], 10);
      });
      expect(r.median).toBeCloseTo(median(m.ncR2), 10);
      expect(r.overImages[0]).toBeCloseTo(boot.models.overImages[m.name].lo, 10);
      expect(r.overImages[1]).toBeCloseTo(boot.models.overImages[m.name].hi, 10);
      expect(r.overNeurons[0]).toBeCloseTo(boot.models.overNeurons[m.name].lo, 10);
      expect(r.overNeurons[1]).toBeCloseTo(boot.models.overNeurons[m.name].hi, 10);
    }
    for (const [name, d] of Object.entries(ref.differences)) {
      expect(d.estimate).toBeCloseTo(boot.differences.overImages[name].estimate, 10);
      expect(d.overImages[0]).toBeCloseTo(boot.differences.overImages[name].lo, 10);
      expect(d.overImages[1]).toBeCloseTo(boot.differences.overImages[name].hi, 10);
      expect(d.overNeurons[0]).toBeCloseTo(boot.differences.overNeurons[name].lo, 10);
      expect(d.overNeurons[1]).toBeCloseTo(boot.differences.overNeurons[name].hi, 10);
    }
    console.log(
      `cowley-v4: numpy/SciPy agree (pooled ridge predictions ≤ ${worst.toExponential(1)} relative)`,
    );
  }, 120_000);
});
