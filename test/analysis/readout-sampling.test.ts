// Bilinear sampling, prediction, serialization, penalties and the location gradient of the Gaussian readout,
// against PyTorch (grid_sample align_corners=True; autograd) from test/reference/readout_reference.py.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  addPenaltyGradient,
  bilinearTaps,
  extractAtLocation,
  type FeatureMaps,
  type GaussianReadout,
  penaltyValue,
  predict,
  readoutFromJSON,
  readoutToJSON,
  tapGradients,
} from "../../analysis/readout/index.ts";

const ref = JSON.parse(
  readFileSync(new URL("../fixtures/readout/readout_reference.json", import.meta.url), "utf8"),
);
const gs = ref.grid_sample;
const maps: FeatureMaps = { n: gs.n, h: gs.h, w: gs.w, c: gs.c, data: Float32Array.from(gs.features) };

describe("extractAtLocation", () => {
  it("matches torch grid_sample(align_corners=True, padding border) at every reference location", () => {
    gs.locations.forEach((loc: [number, number], i: number) => {
      const got = extractAtLocation(maps, loc);
      const want: number[] = gs.samples[i];
      expect(got.length).toBe(want.length);
      for (let j = 0; j < want.length; j++) expect(got[j]).toBeCloseTo(want[j], 5);
    });
  });

  it("has bilinear weights that sum to 1 and hit pixel centres exactly at grid points", () => {
    const t = bilinearTaps(0.37, -0.61, 5, 6);
    expect(t.weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    const corner = bilinearTaps(1, 1, 5, 6);
    const p = corner.pixels[corner.weights.indexOf(Math.max(...corner.weights))];
    expect(p).toBe(5 * 6 - 1);
  });

  it("rejects a malformed feature block with EPHYS_BAD_FEATURES", () => {
    expect(() => extractAtLocation({ ...maps, c: 4 }, [0, 0])).toThrow(
      expect.objectContaining({ code: "EPHYS_BAD_FEATURES" }),
    );
  });
});

describe("predict and JSON", () => {
  const readout: GaussianReadout = {
    channelId: "ch7",
    location: [0.37, -0.61],
    sigma: [0.1, 0.2],
    weights: Float32Array.from([0.5, -1.25, 2]),
    bias: 3,
    bestEpoch: 4,
    valLossCurve: [1, 0.5, 0.25],
    testR: 0.8,
  };

  it("predicts Σ w·a(μ) + b per image from the grid_sample reference", () => {
    const pred = predict(readout, maps);
    const samples: number[] = gs.samples[3]; // location [0.37, -0.61]
    for (let i = 0; i < maps.n; i++) {
      let want = readout.bias;
      for (let j = 0; j < maps.c; j++) want += samples[i * maps.c + j] * readout.weights[j];
      expect(pred[i]).toBeCloseTo(want, 5);
    }
  });

  it("round-trips through JSON text", () => {
    const back = readoutFromJSON(JSON.parse(JSON.stringify(readoutToJSON(readout))));
    expect(back).toEqual(readout);
    expect(back.weights).toBeInstanceOf(Float32Array);
  });

  it("names the bad field of a malformed serialized readout", () => {
    const json = { ...readoutToJSON(readout), location: [2, 0] };
    expect(() => readoutFromJSON(json)).toThrow(/readout\.location/);
    expect(() => readoutFromJSON({ ...json, location: [0, 0], weights: "x" })).toThrow(
      expect.objectContaining({ code: "EPHYS_BAD_READOUT" }),
    );
    expect(() => predict({ ...readout, weights: new Float32Array(5) }, maps)).toThrow(/expected 3 weights/);
  });
});

describe("gradients", () => {
  it("tapGradients gives torch autograd's loss and ∂L/∂(location, w, b) through grid_sample", () => {
    const g = ref.readout_gradient;
    const taps = bilinearTaps(g.location[0], g.location[1], maps.h, maps.w);
    const hw = maps.h * maps.w;
    // u_t = F_t · w per tap, and ∂L/∂w = Σ_t g_t F_tᵀ ρ, written out here from the maps.
    const u = taps.pixels.map((p) =>
      Float32Array.from({ length: maps.n }, (_, i) => {
        let s = 0;
        for (let j = 0; j < maps.c; j++) s += maps.data[(i * hw + p) * maps.c + j] * g.weights[j];
        return s;
      }),
    );
    const out = tapGradients(taps, u, g.target, g.bias);
    const summed = tapGradients(taps, u, g.target, g.bias, false, false, "sum");
    expect(summed.loss).toBeCloseTo(g.loss * maps.n, 5);
    expect(summed.dLocation[0]).toBeCloseTo(g.dLocation[0] * maps.n, 4);
    expect(out.loss).toBeCloseTo(g.loss, 5);
    expect(out.dBias).toBeCloseTo(g.dBias, 5);
    expect(out.dLocation[0]).toBeCloseTo(g.dLocation[0], 4);
    expect(out.dLocation[1]).toBeCloseTo(g.dLocation[1], 4);
    for (let j = 0; j < maps.c; j++) {
      let dw = 0;
      for (let t = 0; t < 4; t++) {
        for (let i = 0; i < maps.n; i++)
          dw += taps.weights[t] * maps.data[(i * hw + taps.pixels[t]) * maps.c + j] * out.rho[i];
      }
      expect(dw).toBeCloseTo(g.dWeights[j], 5);
    }
  });

  it("penalty gradients match central finite differences of the penalty values", () => {
    const w = Float32Array.from([0.3, -0.02, 0, 1.5, -0.7]);
    for (const kind of ["l1/2", "l1"] as const) {
      const pen = { kind, weight: 0.1, smoothing: 1e-4 };
      const grad = new Float32Array(w.length);
      addPenaltyGradient(pen, w, grad);
      for (let i = 0; i < w.length; i++) {
        const h = 1e-3;
        const wp = Float64Array.from(w);
        const wm = Float64Array.from(w);
        wp[i] += h;
        wm[i] -= h;
        expect(grad[i]).toBeCloseTo((penaltyValue(pen, wp) - penaltyValue(pen, wm)) / (2 * h), 3);
      }
      // Far from 0 the smoothed penalties approach λ|w|^{1/2} and λ|w|.
      expect(penaltyValue(pen, [4])).toBeCloseTo(0.1 * (kind === "l1/2" ? 2 : 4), 4);
    }
  });
});
