// bench:concepts — concept discovery (AlignedCut) cost: seconds and peak memory of the whole pipeline (channel
// alignment, γ, Nyström normalized cut with the default m = 10000 and K = 10, UMAP colouring, concepts and channel
// tables) for 1000 images × 7×7 (49,000 nodes) and × 14×14 (196,000 nodes), how the cost grows with N (fitted
// exponent), and the exact normalized cut as the baseline: solved (float32 matrix + Lanczos) where the matrix fits,
// and at 49,000 nodes estimated as (one measured matrix-free operator application) × (applications the exact solve
// needed at the largest N solved) + the degree pass. Each case runs in its own child process, so its peak RSS is
// its own. Features are synthetic (C = 512, as ResNet-18 layer4; 32 channels with sparse random readouts): real
// backbone features of 1000 images would take ~10 min to compute here; the cost of the cut does not depend on
// where the features came from, only on N, C and the channel count.
//
//   npm run bench:concepts            (BENCH_QUICK=1: smaller cases, for a smoke run)
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { degrees, matrixFreeOperator, unitRows } from "../analysis/concepts/affinity.ts";
import { alignFeatures } from "../analysis/concepts/align.ts";
import { discoverConcepts } from "../analysis/concepts/discover.ts";
import { gammaForDegree } from "../analysis/concepts/gamma.ts";
import { subspaceAgreement } from "../analysis/concepts/metrics.ts";
import { normalizedCut } from "../analysis/concepts/ncut.ts";
import { nystromNcut } from "../analysis/concepts/nystrom.ts";
import { mulberry32 } from "../analysis/random.ts";
import type { FeatureMaps } from "../analysis/readout/feature-maps.ts";

const C = 512;
const CHANNELS = 32;
const QUICK = process.env.BENCH_QUICK === "1";

interface Case {
  kind: "pipeline" | "exact" | "apply";
  images: number;
  grid: number;
}

interface CaseResult {
  kind: Case["kind"];
  nodes: number;
  seconds: number;
  peakMB: number;
  stages?: Record<string, number>;
  applied?: number;
  agreement?: number;
  gamma?: number;
}

const gauss = (rnd: () => number) => () =>
  Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());

/** Synthetic feature maps: 24 concept prototypes (sparse, ≥ 0); each image a background concept and two blobs. */
function syntheticFeatures(images: number, grid: number, seed = 1): FeatureMaps {
  const rnd = mulberry32(seed);
  const g = gauss(rnd);
  const prototypes = Array.from({ length: 24 }, () =>
    Float32Array.from({ length: C }, () => (rnd() < 0.2 ? Math.abs(g()) * 2 : 0)),
  );
  const data = new Float32Array(images * grid * grid * C);
  for (let im = 0; im < images; im++) {
    const bg = Math.floor(rnd() * 24);
    const blobs = [0, 1].map(() => ({
      c: Math.floor(rnd() * 24),
      x: rnd() * grid,
      y: rnd() * grid,
      r: (0.15 + 0.2 * rnd()) * grid,
    }));
    for (let y = 0; y < grid; y++)
      for (let x = 0; x < grid; x++) {
        let concept = bg;
        for (const b of blobs) if ((x + 0.5 - b.x) ** 2 + (y + 0.5 - b.y) ** 2 < b.r * b.r) concept = b.c;
        const p = prototypes[concept];
        const base = ((im * grid + y) * grid + x) * C;
        for (let t = 0; t < C; t++) data[base + t] = Math.max(0, p[t] + 0.5 * g());
      }
  }
  return { n: images, h: grid, w: grid, c: C, data };
}

function readouts(seed = 2) {
  const rnd = mulberry32(seed);
  const g = gauss(rnd);
  return Array.from({ length: CHANNELS }, (_, j) => ({
    channelId: `ch${j}`,
    weights: Float32Array.from({ length: C }, () => (rnd() < 0.05 ? g() : 0)),
  }));
}

const peakMB = () => process.resourceUsage().maxRSS / 1024;

async function runCase(c: Case): Promise<CaseResult> {
  const features = syntheticFeatures(c.images, c.grid);
  const nodes = c.images * c.grid * c.grid;
  if (c.kind === "pipeline") {
    const t = performance.now();
    const r = await discoverConcepts(features, readouts());
    const seconds = (performance.now() - t) / 1000;
    return {
      kind: c.kind,
      nodes,
      seconds,
      peakMB: peakMB(),
      gamma: r.settings.gamma,
      stages: Object.fromEntries(Object.entries(r.seconds).map(([k, v]) => [k, Number(v!.toFixed(2))])),
    };
  }
  const aligned = alignFeatures(features, readouts());
  const unit = unitRows(aligned.nodes);
  const gamma = gammaForDegree(unit);
  if (c.kind === "apply") {
    // One application of the exact (matrix-free) operator and the degree pass it needs.
    let t = performance.now();
    const degree = degrees(unit, gamma);
    const degreeSeconds = (performance.now() - t) / 1000;
    const op = matrixFreeOperator(unit, gamma, degree);
    const x = new Float64Array(unit.n).fill(1 / Math.sqrt(unit.n));
    const y = new Float64Array(unit.n);
    t = performance.now();
    op.apply(x, y);
    return {
      kind: c.kind,
      nodes,
      seconds: (performance.now() - t) / 1000,
      peakMB: peakMB(),
      stages: { degrees: degreeSeconds },
    };
  }
  // Exact: the float32 matrix and Lanczos; also the Nyström solve at the default m, K for the agreement.
  const t = performance.now();
  const exact = normalizedCut(unit, { k: 10, gamma, solver: "lanczos" });
  const seconds = (performance.now() - t) / 1000;
  const peak = peakMB();
  const ny = nystromNcut(unit, { k: 10, gamma });
  return {
    kind: c.kind,
    nodes,
    seconds,
    peakMB: peak,
    applied: exact.applied,
    gamma,
    agreement: subspaceAgreement(exact.vectors, ny.vectors, unit.n, 10),
  };
}

function inChild(c: Case): CaseResult {
  const out = spawnSync(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), "--child", JSON.stringify(c)],
    { encoding: "utf8", maxBuffer: 1 << 24, env: process.env },
  );
  const line = out.stdout.split("\n").find((l) => l.startsWith("RESULT "));
  if (!line) throw new Error(`case ${JSON.stringify(c)} failed: ${out.stderr.slice(-2000)}`);
  return JSON.parse(line.slice(7)) as CaseResult;
}

/** Least-squares slope of log(seconds) on log(N). */
function exponent(points: Array<{ n: number; s: number }>): number {
  const xs = points.map((p) => Math.log(p.n));
  const ys = points.map((p) => Math.log(p.s));
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < xs.length; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
  }
  return sxy / sxx;
}

async function main(): Promise<void> {
  const childAt = process.argv.indexOf("--child");
  if (childAt >= 0) {
    const result = await runCase(JSON.parse(process.argv[childAt + 1]) as Case);
    console.log(`RESULT ${JSON.stringify(result)}`);
    return;
  }
  const images = QUICK ? 100 : 1000;
  const log = (s: string) => console.log(s);
  log(
    `concepts bench: synthetic features C = ${C}, ${CHANNELS} channels; defaults m = 10000, K = 10, k = 10, UMAP colouring; ` +
      `each case in its own process (peak = max RSS)`,
  );
  // Exact baseline where the float32 matrix fits, with the default-m Nyström agreement (m < N above 10000).
  const exactGrid = QUICK
    ? [
        [40, 7],
        [80, 7],
      ]
    : [
        [60, 7],
        [120, 7],
        [200, 7],
        [250, 7],
      ];
  const exact: CaseResult[] = [];
  for (const [im, grid] of exactGrid) {
    const r = inChild({ kind: "exact", images: im, grid });
    exact.push(r);
    log(
      `exact ${String(r.nodes).padStart(6)} nodes: ${r.seconds.toFixed(1)} s, peak ${r.peakMB.toFixed(0)} MB, ` +
        `${r.applied} operator applications; Nyström (m = ${Math.min(10000, r.nodes)}) subspace agreement ${r.agreement!.toFixed(4)}`,
    );
  }
  const exactExp = exponent(exact.map((r) => ({ n: r.nodes, s: r.seconds })));
  log(
    `exact solve grows as N^${exactExp.toFixed(2)} (fit over ${exact.map((r) => r.nodes).join(", ")} nodes)`,
  );
  // The Nyström pipeline at growing N.
  const sizes: Array<[number, number]> = QUICK
    ? [[images, 7]]
    : [
        [250, 7],
        [images, 7],
        [images / 2, 14],
        [images, 14],
      ];
  const pipeline: CaseResult[] = [];
  for (const [im, grid] of sizes) {
    const r = inChild({ kind: "pipeline", images: im, grid });
    pipeline.push(r);
    log(
      `pipeline ${String(r.nodes).padStart(6)} nodes (${im} images × ${grid}×${grid}): ${r.seconds.toFixed(1)} s, ` +
        `peak ${r.peakMB.toFixed(0)} MB; stages ${JSON.stringify(r.stages)}`,
    );
  }
  const nyExp = exponent(pipeline.map((r) => ({ n: r.nodes, s: r.seconds })));
  log(`pipeline grows as N^${nyExp.toFixed(2)} (fit over ${pipeline.map((r) => r.nodes).join(", ")} nodes)`);
  // The exact solve at 49,000 nodes: one matrix-free application measured, times the applications needed.
  const head = pipeline.find((r) => r.nodes === images * 49)!;
  const apply = inChild({ kind: "apply", images, grid: 7 });
  const applications = exact.at(-1)!.applied!;
  const exactEstimate = apply.stages!.degrees + applications * apply.seconds;
  log(
    `exact at ${apply.nodes} nodes: the float32 matrix would need ${((apply.nodes ** 2 * 4) / 2 ** 30).toFixed(1)} GiB; ` +
      `matrix-free: degrees ${apply.stages!.degrees.toFixed(1)} s + ${applications} applications × ${apply.seconds.toFixed(1)} s ` +
      `(measured once; count from the exact solve at ${exact.at(-1)!.nodes} nodes) ≈ ${exactEstimate.toFixed(0)} s`,
  );
  const big = pipeline.find((r) => r.nodes === images * 196);
  if (big)
    log(
      `exact at ${big.nodes} nodes ≈ ${(exactEstimate * (big.nodes / apply.nodes) ** 2).toFixed(0)} s (N² from ${apply.nodes}); ` +
        `pipeline ${big.seconds.toFixed(1)} s, peak ${big.peakMB.toFixed(0)} MB`,
    );
  log(
    `concepts: ${head.seconds.toFixed(1)} s for ${head.nodes} nodes (${(head.seconds / exactEstimate).toFixed(3)}× exact, estimated)`,
  );
}

await main();
