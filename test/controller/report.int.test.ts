// The report step on real SQLite stores filled with a simulated day (and a day aborted in phase 1), rendered in
// Debian's headless Chromium: sections, one check-table row per channel × check, the failed channel marked, the
// figures, no request leaving the page; the PDF through `ephysloop report --pdf` and pdftoppm. Screenshots and
// PDF pages go to test/artifacts/.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cacheDir, entryPath, writeEntry } from "../../analysis/features/store.ts";
import { CHROMIUM_ARGS, reportCommand } from "../../controller/commands/report.ts";
import { assembleReportData, type ReportFiles, reportStep } from "../../controller/day/steps/report.ts";
import { abortedDay, CHANNELS, DEAD_CHANNEL, type FakeDay, fakeDay } from "./report-day.helper.ts";
import { mean, pearsonR, storedNetRates } from "./report-reference.ts";

const artifacts = new URL("../artifacts/", import.meta.url).pathname;
const docsImages = new URL("../../docs/images/", import.meta.url).pathname;
/** The day's sections, in page order. */
const SECTIONS = [
  "summary",
  "rig-qa",
  "checks",
  "channel-summary",
  "models",
  "selection",
  "retest",
  "responses",
  "psth",
  "shared-features",
  "optional-optvis",
];
const CHECKS_PER_CHANNEL = 5;
/** The five summary figures, the retest scatter and one PSTH/raster figure per channel. */
const FIGURES = 5 + 1 + CHANNELS.length;
const criticalFixture = JSON.parse(
  readFileSync(new URL("../fixtures/report/critical_r.json", import.meta.url), "utf8"),
) as {
  cases: Array<{ n: number; alpha: number; r: number }>;
};

describe("session report", () => {
  let dir: string;
  let day: FakeDay;
  let aborted: FakeDay;
  let files: ReportFiles;
  let abortedFiles: ReportFiles;
  let browser: Browser;

  /** Open a report in a fresh page; every request other than the file and data: URIs is recorded and refused. */
  async function open(path: string): Promise<{ page: Page; outside: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1150, height: 900 } });
    const url = pathToFileURL(path).href;
    const outside: string[] = [];
    await page.route("**/*", (route) => {
      const u = route.request().url();
      if (u === url || u.startsWith("data:")) return route.continue();
      outside.push(u);
      return route.abort();
    });
    await page.goto(url, { waitUntil: "load" });
    return { page, outside };
  }

  beforeAll(async () => {
    mkdirSync(artifacts, { recursive: true });
    dir = mkdtempSync(join(tmpdir(), "ephys-report-"));
    mkdirSync(join(dir, "day"));
    mkdirSync(join(dir, "aborted"));
    [day, aborted] = await Promise.all([fakeDay(join(dir, "day")), abortedDay(join(dir, "aborted"))]);
    [files, abortedFiles] = await Promise.all([
      reportStep(day.ctx, { outcome: "done", reason: null }),
      reportStep(aborted.ctx, { outcome: "aborted", reason: "operator (API)" }),
    ]);
    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close();
    day?.store.close();
    aborted?.store.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("writes <dataDir>/sessions/<id>/report.html and records it as the session's report artifact", () => {
    expect(files.path).toBe(join(dir, "day", "sessions", day.sessionId, "report.html"));
    const html = readFileSync(files.path);
    const art = day.store.artifacts(day.sessionId, "report");
    expect(art).toHaveLength(1);
    expect(art[0].path).toBe(files.path);
    expect(art[0].meta).toMatchObject({
      format: "html",
      bytes: html.length,
      sha256: files.sha256,
      figures: FIGURES,
    });
    // No temp file left; the day's NWB file is beside the report (docs/nwb.md).
    expect(readdirSync(join(dir, "day", "sessions", day.sessionId)).sort()).toEqual(
      [`${day.sessionId}.nwb`, "channels.csv", "report.html"].sort(),
    );
  });

  it("renders a full day in Chromium: every section, the check table, the failed channel, the figures", async () => {
    const { page, outside } = await open(files.path);
    for (const id of SECTIONS) expect(await page.locator(`section#${id}`).count(), id).toBe(1);
    expect(await page.locator(".missing").allTextContents()).toEqual([]);

    // Provenance: the stored protocol text verbatim, its hash, seed, weights hash.
    expect(await page.locator("#protocol-text pre").textContent()).toBe(day.loaded.text);
    const summary = (await page.locator("#summary").textContent()) ?? "";
    const row = day.store.getSession(day.sessionId)!;
    for (const text of [
      row.protocol_sha256,
      row.weights_sha256!,
      row.code_version,
      "resnet50 (keras) at layer4.1",
    ])
      expect(summary).toContain(text);

    // Presentations per phase as stored.
    for (const phase of [1, 2] as const) {
      const trials = day.store.trials(day.sessionId, phase);
      const cells = await page
        .locator("table.trials tbody tr")
        .nth(phase - 1)
        .locator("td")
        .allTextContents();
      expect(cells.slice(0, 3)).toEqual([
        `phase ${phase}`,
        String(trials.filter((t) => t.status === "shown").length),
        String(trials.filter((t) => t.status === "voided").length),
      ]);
    }

    // One row per channel × check, each with the stored pass/fail; the excluded channel marked with its reason.
    const checks = day.store.checkResults(day.sessionId);
    expect(checks).toHaveLength(CHANNELS.length * CHECKS_PER_CHANNEL);
    expect(await page.locator("table.checks tr.check-row").count()).toBe(checks.length);
    for (const c of checks) {
      const tr = page.locator(`tr.check-row[data-channel="${c.channelId}"][data-check="${c.name}"]`);
      expect(await tr.count()).toBe(1);
      expect(await tr.getAttribute("data-passed")).toBe(String(c.passed));
    }
    const decisions = day.store.decisions(day.sessionId);
    const excluded = decisions.filter((d) => !d.included);
    expect(excluded.map((d) => d.channelId)).toContain(DEAD_CHANNEL);
    for (const d of decisions) {
      const rows = page.locator(`tr.check-row[data-channel="${d.channelId}"]`);
      const classes = await rows.evaluateAll((trs) => trs.map((tr) => tr.classList.contains("excluded")));
      expect(classes).toEqual(Array(CHECKS_PER_CHANNEL).fill(!d.included));
      const decisionCell = (await rows.first().locator("td.decision").textContent()) ?? "";
      expect(decisionCell).toContain(d.included ? "included" : "✗ excluded");
      expect(decisionCell).toContain(d.reason);
    }
    expect(await page.locator(".excluded-list li").allTextContents()).toEqual(
      excluded.map((d) => `${d.channelId}: ${d.reason}`),
    );

    // Model generalization: held-out r and its critical value (n = test split), objects r recomputed here.
    const nTest = Object.values(day.store.splits(day.sessionId)).filter((s) => s === "test").length;
    const rc = criticalFixture.cases.find((c) => c.n === nTest && c.alpha === 0.05)!.r;
    const modelRows = page.locator("table.models tbody tr");
    expect(await modelRows.count()).toBe(CHANNELS.length);
    const rates2 = storedNetRates(day.store, day.sessionId, 2);
    for (const [i, m] of day.store.models(day.sessionId).entries()) {
      const cells = (await modelRows.nth(i).locator("td").allTextContents()).map((t) => t.trim());
      const testR = (m.params as { testR: number }).testR;
      expect(cells[0].startsWith(m.channelId)).toBe(true);
      expect(cells[1]).toBe(testR.toFixed(3));
      expect(cells[2]).toBe(String(nTest));
      expect(cells[3]).toBe(rc.toFixed(3));
      expect(cells[4]).toBe(testR > rc ? "yes" : "no");
      const chosen = day.store
        .selections(day.sessionId)
        .filter((c) => c.channelId === m.channelId && /^(top|bottom)-object$/.test(c.rule));
      const recorded = chosen.map((c) => mean(rates2.get(m.channelId)!.get(c.stimulusId)!));
      expect(cells[5]).toBe(
        pearsonR(
          chosen.map((c) => c.score!),
          recorded,
        ).toFixed(3),
      );
      expect(cells[6]).toBe(String(chosen.length));
    }

    // Figures: Vega-Lite SVGs with drawn marks.
    expect(await page.locator("figure.chart").count()).toBe(FIGURES);
    expect(await page.locator("figure.chart svg").count()).toBe(FIGURES);
    for (const name of ["trials", "correlation", "predictions", "loss", "responses"]) {
      const marks = await page
        .locator(`figure[data-figure="${name}"] svg path, figure[data-figure="${name}"] svg line`)
        .count();
      expect(marks, name).toBeGreaterThan(3);
    }

    // Shared features: a panel per included channel, the plain pair (the 224 px stimuli) and both stored overlays
    // (96 px on this test day) decoded by the browser; the excluded one named.
    const included = decisions.filter((d) => d.included);
    expect(await page.locator("#shared-features .panel").count()).toBe(included.length);
    const sizes = await page
      .locator("#shared-features .panel img")
      .evaluateAll((imgs) =>
        imgs.map((i) => [
          (i as HTMLImageElement).alt.includes("overlay"),
          (i as HTMLImageElement).naturalWidth,
        ]),
      );
    expect(sizes).toEqual(
      Array.from({ length: included.length }, () => [
        [false, 224],
        [true, 96],
        [false, 224],
        [true, 96],
      ]).flat(),
    );
    expect(await page.locator("#no-panel").textContent()).toContain(
      `${DEAD_CHANNEL} — excluded by the checks`,
    );

    expect(outside).toEqual([]);
    await page.screenshot({ path: join(artifacts, "report-day.png"), fullPage: true });
    await page.close();
  });

  it("pictures of every section of the day's report (docs/images/report-*.png with UPDATE_DOCS_PICTURES=1)", async () => {
    const { page } = await open(files.path);
    const ids = await page.locator("main > section").evaluateAll((els) => els.map((e) => e.id));
    expect(ids).toEqual(SECTIONS);
    for (const id of ["header", ...ids]) {
      const shot = join(artifacts, `report-${id}.png`);
      await page.locator(id === "header" ? "body > header" : `section#${id}`).screenshot({ path: shot });
      expect(statSync(shot).size, id).toBeGreaterThan(5000);
      if (process.env.UPDATE_DOCS_PICTURES === "1") {
        mkdirSync(docsImages, { recursive: true });
        // A palette PNG: a quarter of the size for the repository, the same picture to the eye.
        await sharp(shot)
          .png({ palette: true, quality: 90, effort: 8 })
          .toFile(join(docsImages, `report-${id}.png`));
      }
    }
    await page.close();
  });

  it("renders a day aborted in phase 1 honestly: what exists, what is missing and why", async () => {
    const { page, outside } = await open(abortedFiles.path);
    expect(await page.locator("body").getAttribute("data-state")).toBe("aborted");
    const banner = (await page.locator("#status-banner").textContent()) ?? "";
    expect(banner).toContain("aborted by operator (API) during phase 1");
    expect(banner).toContain("electrode drift");
    const trials = aborted.store.trials(aborted.sessionId, 1);
    expect(await page.locator("table.trials tbody tr").count()).toBe(1);
    const cells = await page.locator("table.trials tbody tr td").allTextContents();
    expect(cells.slice(0, 4)).toEqual([
      "phase 1",
      String(trials.filter((t) => t.status === "shown").length),
      String(trials.filter((t) => t.status === "voided").length),
      "0",
    ]);
    expect(cells[5]).toContain("session aborted: 1");
    for (const [id, producer] of [
      ["checks", "the channel checks"],
      ["channel-summary", "the model fit"],
      ["models", "the model fit"],
      ["selection", "the phase-2 selection"],
      ["retest", "phase 2"],
      ["responses", "phase 2"],
      ["shared-features", "the shared-feature visualization"],
    ]) {
      const text = (await page.locator(`section#${id} .missing`).textContent()) ?? "";
      expect(text, id).toContain(`they come from ${producer}, which this session never reached`);
      expect(text, id).toContain("aborted by operator (API) during phase 1");
    }
    expect(await page.locator("tr.check-row").count()).toBe(0);
    // The presentations figure, and each channel's phase-1 PSTH: the spike times recorded before the abort.
    expect(await page.locator("figure.chart svg").count()).toBe(1 + CHANNELS.length);
    expect(outside).toEqual([]);
    await page.screenshot({ path: join(artifacts, "report-aborted.png"), fullPage: true });
    await page.close();
  });

  it("predicts every phase-2 object from the feature cache when the session's features are there", async () => {
    // Spatially constant features per object: the readout's bilinear sample is that vector wherever it looks,
    // so the prediction is w·f + bias — computed here without the readout code.
    const p = day.loaded.protocol.model;
    const dirKey = cacheDir(join(dir, "day", "features"), {
      weightsSha256: day.store.getSession(day.sessionId)!.weights_sha256!,
      arch: p.backbone,
      variant: p.variant,
      layer: p.layer,
      imageSize: p.imageSize,
    });
    mkdirSync(dirKey, { recursive: true });
    const objects = day.stimuli.filter((s) => s.role === "object");
    const vec = new Map(
      objects.map((s, i) => [s.id, Array.from({ length: 8 }, (_, j) => ((i * 7 + j * 3) % 11) / 4)]),
    );
    for (const s of objects) {
      const f = vec.get(s.id)!;
      const data = new Float32Array(3 * 3 * 8);
      for (let px = 0; px < 9; px++) data.set(f, px * 8);
      await writeEntry(entryPath(dirKey, s.sha256), { h: 3, w: 3, c: 8, data });
    }
    const data = await assembleReportData(day.store, day.sessionId, { config: day.config });
    const rates2 = storedNetRates(day.store, day.sessionId, 2);
    const shown = objects.filter((s) => CHANNELS.some((ch) => (rates2.get(ch)?.get(s.id)?.length ?? 0) > 0));
    expect(data.objectPredictions).toHaveLength(CHANNELS.length);
    for (const o of data.objectPredictions) {
      const m = day.store.models(day.sessionId).find((x) => x.channelId === o.channelId)!.params as {
        weights: number[];
        bias: number;
      };
      expect(o.source).toMatch(/cached backbone features of every phase-2 object/);
      expect(o.points.map((q) => q.stimulusId)).toEqual(shown.map((s) => s.id));
      const recorded = shown.map((s) => mean(rates2.get(o.channelId)!.get(s.id)!));
      for (const [i, q] of o.points.entries()) {
        const f = vec.get(q.stimulusId)!;
        const expected = f.reduce((a, v, j) => a + Math.fround(v) * m.weights[j], 0) + m.bias;
        expect(q.predicted).toBeCloseTo(expected, 4);
        expect(q.recorded).toBeCloseTo(recorded[i], 12);
      }
    }
    rmSync(join(dir, "day", "features"), { recursive: true });
  });

  it("`report --pdf` writes report.pdf beside the HTML; pdftoppm renders its first pages", async () => {
    const out = await reportCommand(day.config, day.sessionId, { pdf: true, quiet: true });
    expect(out.pdf).toBeDefined();
    const pdf = out.pdf!;
    expect(pdf.path).toBe(join(dir, "day", "sessions", day.sessionId, "report.pdf"));
    expect(readFileSync(pdf.path).subarray(0, 5).toString()).toBe("%PDF-");
    expect(pdf.pages).toBeGreaterThanOrEqual(3);
    expect(day.store.artifacts(day.sessionId, "report-pdf").map((a) => a.path)).toEqual([pdf.path]);
    const prefix = join(artifacts, "report-pdf");
    for (const f of readdirSync(artifacts)) if (f.startsWith("report-pdf-")) rmSync(join(artifacts, f));
    execFileSync("pdftoppm", ["-png", "-r", "60", "-f", "1", "-l", "3", pdf.path, prefix]);
    const pages = readdirSync(artifacts)
      .filter((f) => /^report-pdf-\d+\.png$/.test(f))
      .sort();
    expect(pages).toHaveLength(3);
    for (const p of pages) expect(statSync(join(artifacts, p)).size).toBeGreaterThan(5000);
  });

  it("`ephysloop report` from the command line prints the path; an unknown session is a clear error", () => {
    const bin = new URL("../../bin/ephysloop.mjs", import.meta.url).pathname;
    const ok = spawnSync(
      process.execPath,
      [bin, "report", aborted.sessionId, "--data-dir", join(dir, "aborted")],
      { encoding: "utf8", env: { ...process.env, EPHYSLOOP_CONFIG: "" } },
    );
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout.trim()).toBe(`report: ${abortedFiles.path}`);
    expect(existsSync(abortedFiles.path)).toBe(true);
    const bad = spawnSync(process.execPath, [bin, "report", "nope", "--data-dir", join(dir, "aborted")], {
      encoding: "utf8",
      env: { ...process.env, EPHYSLOOP_CONFIG: "" },
    });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('error EPHYS_NO_SESSION: session: no session "nope"');
    expect(bad.stderr).toContain(aborted.sessionId);
  });
});
