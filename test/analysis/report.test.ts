// The report as a pure function: critical r against SciPy, self-containment, escaping, figures only where there
// are data, and honest explanations of what is missing (checked on hand-made ReportData; no store, no browser).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  buildReport,
  criticalR,
  objectCorrelation,
  type ReportData,
  weightsThatRan,
  whyMissing,
} from "../../analysis/report/index.ts";
import { pearson } from "../../analysis/stats/index.ts";

const fixture = JSON.parse(
  readFileSync(new URL("../fixtures/report/critical_r.json", import.meta.url), "utf8"),
) as {
  cases: Array<{ n: number; alpha: number; r: number }>;
};

// A 1×1 PNG (a red pixel).
const PNG = Uint8Array.from(
  Buffer.from(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==",
    "base64",
  ),
);

function baseData(over: Partial<ReportData> = {}, session: Partial<ReportData["session"]> = {}): ReportData {
  return {
    generatedAt: "2024-05-17T12:00:00.000Z",
    session: {
      id: "s-1",
      protocolName: "demo",
      protocolPath: "/p/demo.yaml",
      protocolSha256: "f".repeat(64),
      protocolText: "name: demo\nnote: <script>alert('x')</script> & more\n",
      codeVersion: "0.1.0+abc",
      software: { node: "v20", xstate: "5" },
      seed: 7,
      rig: null,
      subject: null,
      backbone: { arch: "resnet50", variant: "keras", layer: "layer4.1", imageSize: 224, weightsPath: null },
      weightsSha256: null,
      createdAt: "2024-05-17T10:00:00.000Z",
      startedAt: "2024-05-17T10:00:01.000Z",
      endedAt: null,
      state: "phase1.running",
      failedReason: null,
      abortedBy: null,
      stateHistory: [
        { state: "preparing", at: "2024-05-17T10:00:01.000Z" },
        { state: "phase1.running", at: "2024-05-17T10:00:02.000Z" },
      ],
      ...session,
    },
    trials: [
      { phase: 1, shown: 10, voided: 1, pending: 1, withData: 10, voidReasons: { "fixation break": 1 } },
    ],
    channels: [
      { id: "a", probe: "A", index: 0 },
      { id: "b", probe: "A", index: 1 },
    ],
    checks: [],
    decisions: [],
    models: [],
    objectPredictions: [],
    responses: [],
    sharedFeatures: [],
    optionalAnalyses: [],
    notes: [],
    ...over,
  };
}

const figures = (html: string) => (html.match(/<figure class="chart"/g) ?? []).length;
const svgs = (html: string) => (html.match(/<svg[\s>]/g) ?? []).length;

describe("criticalR", () => {
  it("matches SciPy's critical r (pearsonr p = α) for every fixture case", () => {
    expect(fixture.cases.length).toBeGreaterThan(20);
    // |Δ| ≤ 6e-10 seen: the two t CDFs (@stdlib vs SciPy) differ at that level in the tails.
    for (const c of fixture.cases) expect(criticalR(c.n, c.alpha)).toBeCloseTo(c.r, 8);
  });

  it("is the r at which pearson's own p-value equals α", () => {
    // x = 0..n-1 and y built with sample correlation exactly r_c
    const n = 12;
    const rc = criticalR(n);
    const x = Array.from({ length: n }, (_, i) => i - (n - 1) / 2);
    const z = x.map((v) => ((v * v) % 5) - 2);
    const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0);
    const zm = z.map((v) => v - z.reduce((a, b) => a + b) / n);
    const zp = zm.map((v, i) => v - (dot(zm, x) / dot(x, x)) * x[i]);
    const xs = x.map((v) => v / Math.sqrt(dot(x, x)));
    const zs = zp.map((v) => v / Math.sqrt(dot(zp, zp)));
    const y = xs.map((v, i) => rc * v + Math.sqrt(1 - rc * rc) * zs[i]);
    const c = pearson(x, y);
    expect(c.r).toBeCloseTo(rc, 12);
    expect(c.p).toBeCloseTo(0.05, 10);
  });

  it("rejects n < 3 and α outside (0, 1) with EPHYS_BAD_REPORT_DATA", () => {
    expect(() => criticalR(2)).toThrow(
      expect.objectContaining({ code: "EPHYS_BAD_REPORT_DATA", message: expect.stringContaining("n") }),
    );
    expect(() => criticalR(10, 1.5)).toThrow(
      expect.objectContaining({ code: "EPHYS_BAD_REPORT_DATA", message: expect.stringContaining("alpha") }),
    );
  });
});

describe("objectCorrelation", () => {
  it("is pearson's r with the critical r of its n, and refuses fewer than 3 points", () => {
    const pts = [
      { predicted: 1, recorded: 2 },
      { predicted: 2, recorded: 1 },
      { predicted: 3, recorded: 5 },
      { predicted: 4, recorded: 4 },
    ];
    const c = objectCorrelation(pts);
    const ref = pearson([1, 2, 3, 4], [2, 1, 5, 4]);
    expect(c.r).toBeCloseTo(ref.r, 14);
    expect(c.p).toBeCloseTo(ref.p, 14);
    expect(c.critical).toBeCloseTo(fixture.cases.find((k) => k.n === 4 && k.alpha === 0.05)!.r, 9);
    const two = objectCorrelation(pts.slice(0, 2));
    expect(two.r).toBeNull();
    expect(two.note).toMatch(/too few/);
  });
});

describe("whyMissing", () => {
  it("names the producing step and how the day ended", () => {
    const aborted = baseData(
      {},
      {
        state: "aborted",
        abortedBy: "operator",
        stateHistory: [
          { state: "phase1.running", at: "t" },
          { state: "aborted", at: "t" },
        ],
      },
    );
    expect(whyMissing(aborted, "models", "fitting")).toBe(
      "No models: they come from the model fit, which this session never reached — it was aborted by operator during phase 1.",
    );
    const failed = baseData(
      {},
      {
        state: "failed",
        failedReason: "fitting: out of memory",
        stateHistory: [
          { state: "phase1.running", at: "t" },
          { state: "fitting", at: "t" },
          { state: "failed", at: "t" },
        ],
      },
    );
    expect(whyMissing(failed, "models", "fitting")).toBe(
      "No models: the session failed during the model fit: fitting: out of memory.",
    );
    expect(whyMissing(failed, "channel checks", "checking")).toMatch(
      /never reached — it failed during the model fit/,
    );
    const running = baseData();
    expect(whyMissing(running, "models", "fitting")).toMatch(
      /^No models yet: they come from the model fit; the session has not finished: it is in state phase1\.running/,
    );
    const done = baseData(
      {},
      {
        state: "done",
        stateHistory: [
          "phase1.running",
          "fitting",
          "selecting",
          "phase2.running",
          "checking",
          "visualizing",
          "reporting",
          "done",
        ].map((state) => ({ state, at: "t" })),
      },
    );
    expect(whyMissing(done, "shared-feature visualizations", "visualizing")).toBe(
      "No shared-feature visualizations were stored, although the session went through the shared-feature visualization.",
    );
  });
});

describe("weights that ran", () => {
  const sha = (c: string) => c.repeat(64);
  const loaded = (weightsSha256: string, weightsSource: string, weightsKind?: string) => ({
    weightsSha256,
    weightsSource,
    weightsKind,
    executor: "onnx",
  });

  it("are the distinct backbone/loaded records, in order; malformed ones are skipped", () => {
    expect(
      weightsThatRan([
        loaded(sha("a"), "/w/robust.safetensors", "robust"),
        loaded(sha("a"), "/w/robust.safetensors", "robust"),
        { weightsSha256: "not a hash" },
        null,
        loaded(sha("b"), "embedded Keras ResNet-50"),
      ]),
    ).toEqual([
      { source: "/w/robust.safetensors", sha256: sha("a"), kind: "robust" },
      { source: "embedded Keras ResNet-50", sha256: sha("b"), kind: null },
    ]);
  });

  it("the summary names the file, the kind and the sha256, and warns when a day changed them", async () => {
    const one = await buildReport(
      baseData({}, { weights: weightsThatRan([loaded(sha("c"), "/w/r50-l2-3.safetensors", "robust")]) }),
    );
    const summary = one.slice(one.indexOf('<section id="summary"'), one.indexOf("</section>"));
    expect(summary).toContain(
      '<th scope="row">Weights</th><td><b>robust</b> · <code>/w/r50-l2-3.safetensors</code></td>',
    );
    expect(summary).toContain(`<th scope="row">Weights sha256</th><td><code>${sha("c")}</code></td>`);
    expect(summary).not.toContain("embedded weights");
    const two = await buildReport(
      baseData(
        {},
        {
          weights: weightsThatRan([
            loaded(sha("d"), "embedded Keras ResNet-50", "standard"),
            loaded(sha("e"), "/w/r.safetensors", "robust"),
          ]),
        },
      ),
    );
    expect(two).toContain(
      '<th scope="row">Weights 1</th><td><b>standard</b> · <code>embedded Keras ResNet-50</code></td>',
    );
    expect(two).toContain(`<th scope="row">Weights 2 sha256</th><td><code>${sha("e")}</code></td>`);
    expect(two).toContain("this session ran with 2 different weights");
    // Nothing recorded (a day that never loaded the backbone): the configured weights and the stored hash, as before.
    const none = await buildReport(baseData());
    expect(none).toContain("embedded weights");
    expect(none).toContain("not recorded for this session");
  });
});

describe("buildReport", () => {
  it("is one self-contained page: no scripts, no external URLs, images as data: URIs, text escaped", async () => {
    const data = baseData({
      sharedFeatures: [
        {
          channelId: "a",
          objectId: "o1",
          bodyId: "b1",
          s: 0.5,
          k: 8,
          dropped: 0.01,
          normOut: 1,
          normIn: 2,
          objectImage: { mime: "image/png", bytes: PNG },
          bodyImage: null,
        },
      ],
      decisions: [{ channelId: "b", included: false, reason: "failed stability (0.1 vs 0.6) <b>" }],
    });
    const html = await buildReport(data);
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<link/i);
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/url\(\s*["']?https?:/i);
    expect(html).toContain(`src="data:image/png;base64,${Buffer.from(PNG).toString("base64")}"`);
    expect(html).toContain("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more");
    expect(html).toContain("(0.1 vs 0.6) &lt;b&gt;");
    expect(html).toContain("body b1: no overlay image stored");
  });

  it("a session in phase 1 has only the presentations figure and says what is missing", async () => {
    const html = await buildReport(baseData());
    expect(figures(html)).toBe(1);
    expect(svgs(html)).toBe(1);
    for (const id of ["checks", "models", "responses", "shared-features"]) {
      const section = html.slice(
        html.indexOf(`<section id="${id}"`),
        html.indexOf("</section>", html.indexOf(`<section id="${id}"`)),
      );
      expect(section).toContain('class="missing"');
      expect(section).toContain("has not finished");
    }
  });

  it("draws each figure that has data with Vega-Lite (SVG), with the critical r per n", async () => {
    const data = baseData(
      {
        trials: [
          { phase: 1, shown: 40, voided: 2, pending: 0, withData: 40, voidReasons: {} },
          { phase: 2, shown: 20, voided: 1, pending: 0, withData: 20, voidReasons: {} },
        ],
        models: [
          {
            channelId: "a",
            kind: "gaussian-readout",
            testR: 0.9,
            nTest: 6,
            bestEpoch: 10,
            valLossCurve: [3, 2, 1],
          },
          {
            channelId: "b",
            kind: "gaussian-readout",
            testR: 0.5,
            nTest: 6,
            bestEpoch: 5,
            valLossCurve: [3, 2.5, 2.2],
          },
        ],
        objectPredictions: [
          {
            channelId: "a",
            source: "test",
            points: [1, 2, 3, 4, 5].map((v, i) => ({
              stimulusId: `o${i}`,
              predicted: v,
              recorded: v * 2 + (i % 2),
            })),
          },
        ],
        responses: [
          {
            channelId: "a",
            visualized: [{ stimulusId: "o4", rate: 11 }],
            meanObject: 6,
            meanBody: 30,
            nObjects: 5,
            nBodies: 8,
          },
        ],
      },
      {
        state: "done",
        stateHistory: [
          { state: "phase1.running", at: "t" },
          { state: "done", at: "t" },
        ],
      },
    );
    const html = await buildReport(data);
    expect(figures(html)).toBe(5);
    expect(svgs(html)).toBe(5);
    for (const name of ["trials", "correlation", "predictions", "loss", "responses"])
      expect(html).toContain(`data-figure="${name}"`);
    const rc6 = fixture.cases.find((c) => c.n === 6 && c.alpha === 0.05)!.r;
    const models = html.slice(
      html.indexOf('<table class="models">'),
      html.indexOf("</table>", html.indexOf('<table class="models">')),
    );
    expect(models).toContain(`<span class="num">${rc6.toFixed(3)}</span>`);
    // channel a is significant (0.9 > 0.811), channel b is not (0.5)
    expect(models.match(/<span class="pass">yes<\/span>/g)?.length).toBe(2); // a: bodies and objects
  });

  it("gives the held-out median of an even number of channels as the mean of the middle two, as the fit logs it", async () => {
    const model = (channelId: string, testR: number) => ({
      channelId,
      kind: "gaussian-readout",
      testR,
      nTest: 6,
      bestEpoch: 1,
      valLossCurve: [],
    });
    const html = await buildReport(
      baseData({ models: [model("a", 0.9), model("b", 0.2), model("c", 0.6), model("d", 0.4)] }),
    );
    // (0.4 + 0.6) / 2; the lower middle (0.4) was the report's, the upper (0.6) the fit log's.
    expect(html).toContain("median r = 0.500 over 4 channels");
  });

  it("rejects malformed data naming the field (EPHYS_BAD_REPORT_DATA)", async () => {
    const bad = baseData({
      models: [{ channelId: "a", kind: "g", testR: 1.5, nTest: 6, bestEpoch: 1, valLossCurve: [] }],
    });
    await expect(buildReport(bad)).rejects.toMatchObject({
      code: "EPHYS_BAD_REPORT_DATA",
      message: expect.stringContaining("models[0].testR"),
    });
    const nan = baseData({
      objectPredictions: [
        { channelId: "a", source: "x", points: [{ stimulusId: "o", predicted: Number.NaN, recorded: 1 }] },
      ],
    });
    await expect(buildReport(nan)).rejects.toMatchObject({
      message: expect.stringContaining("objectPredictions[0].points[0].predicted"),
    });
  });
});
