// The report's sections built from phase-2 and spike data, checked against the store's own rows on a simulated day
// (real SQLite, spike times stored per trial), its report step run as the day machine runs it: before the machine
// has stored "reporting". Every expected number is recomputed here from the stored rows — net rates, means, Pearson
// r, PSTH bins — with formulas written in this file, not the production functions; the page is read in Chromium.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHROMIUM_ARGS } from "../../controller/commands/report.ts";
import { assembleReportData, type ReportFiles, reportStep } from "../../controller/day/steps/report.ts";
import { CHANNELS, type FakeDay, fakeDay } from "./report-day.helper.ts";
import { mean, netRate, pearsonR } from "./report-reference.ts";

/** PSTH bins of 10 ms from −75 ms (the demo protocol). */
const BIN = 10;
const START = -75;
const BINS = 32; // −75 … 245 ms: the whole 10 ms bins before the span's end at 250 ms

/** RFC 4180 lines: fields split on commas outside quotes, "" inside quotes a quote. */
function parseCsv(text: string): string[][] {
  return text
    .trimEnd()
    .split("\n")
    .map((line) => {
      const out: string[] = [];
      let cur = "";
      let quoted = false;
      for (let i = 0; i < line.length; i++) {
        const ch = line[i];
        if (quoted) {
          if (ch === '"' && line[i + 1] === '"') {
            cur += '"';
            i++;
          } else if (ch === '"') quoted = false;
          else cur += ch;
        } else if (ch === '"') quoted = true;
        else if (ch === ",") {
          out.push(cur);
          cur = "";
        } else cur += ch;
      }
      out.push(cur);
      return out;
    });
}

describe("report sections from the stored day", () => {
  let dir: string;
  let day: FakeDay;
  let files: ReportFiles;
  let browser: Browser;
  let page: Page;
  /** channel → phase → stimulus → per-trial net rates, from the stored counts. */
  const rates = new Map<string, Map<number, Map<string, number[]>>>();
  const rateOf = (ch: string, phase: number, id: string) => rates.get(ch)?.get(phase)?.get(id) ?? [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "ephys-report-sections-"));
    day = await fakeDay(dir, 11, { reportingStored: false });
    files = await reportStep(day.ctx, { outcome: "done", reason: null });
    for (const phase of [1, 2] as const)
      for (const r of day.store.counts(day.sessionId, phase)) {
        const byPhase = rates.get(r.channel_id) ?? new Map<number, Map<string, number[]>>();
        rates.set(r.channel_id, byPhase);
        const byStim = byPhase.get(phase) ?? new Map<string, number[]>();
        byPhase.set(phase, byStim);
        byStim.set(r.stimulus_id, [...(byStim.get(r.stimulus_id) ?? []), netRate(r.counts)]);
      }
    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1150, height: 900 } });
    await page.goto(pathToFileURL(files.path).href, { waitUntil: "load" });
  });

  afterAll(async () => {
    await browser?.close();
    day?.store.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const summaryRow = async (name: string) =>
    ((await page.locator(`#summary table.kv tr:has(th:text-is("${name}")) td`).textContent()) ?? "").trim();

  it("provenance: the outcome's final state and end time, where the session recorded, Kruskal-Wallis named", async () => {
    // The store still says "visualizing" and has no end time: the report step ran before "reporting" was stored.
    const row = day.store.getSession(day.sessionId)!;
    expect(row.ended_at).toBeNull();
    expect(await summaryRow("Final state")).toBe("done");
    const ended = await summaryRow("Ended");
    expect(ended).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Date.parse(ended)).toBeGreaterThanOrEqual(Date.parse(row.started_at!));
    expect(await page.locator("table.history tbody tr").last().locator("td").allTextContents()).toEqual([
      ended,
      "reporting",
    ]);
    expect(await summaryRow("Subject")).toBe(row.subject);
    expect(await summaryRow("Rig")).toBe(row.rig);
    expect(await summaryRow("Probe")).toBe(row.probe);
    expect(await summaryRow("Depth")).toBe(`${row.depth_um} µm`);
    expect(await summaryRow("Region")).toBe(row.region);
    expect(await page.locator("header .muted").textContent()).toContain(`probe ${row.probe}`);
    const kw = page.locator('tr.check-row[data-check="kruskal-wallis"]').first();
    expect(await kw.textContent()).toContain("Kruskal-Wallis H across phase-1 bodies");
  });

  it("lists exactly the store's selections per channel, each with its score and phase-2 mean net rate", async () => {
    const selections = day.store.selections(day.sessionId);
    for (const ch of CHANNELS) {
      const stored = selections.filter((s) => s.channelId === ch);
      const cells = page.locator(`.selection-channel[data-channel="${ch}"] figure.thumb`);
      const shown = await cells.evaluateAll((fs) =>
        fs.map((f) => ({
          id: f.getAttribute("data-stimulus")!,
          rule: f.getAttribute("data-rule")!,
          caption: f.querySelector("figcaption")!.textContent!,
          width: (f.querySelector("img") as HTMLImageElement | null)?.naturalWidth ?? 0,
        })),
      );
      expect(shown.map((s) => `${s.rule} ${s.id}`).sort()).toEqual(
        stored.map((s) => `${s.rule} ${s.stimulusId}`).sort(),
      );
      for (const s of shown) {
        const choice = stored.find((c) => c.stimulusId === s.id && c.rule === s.rule)!;
        expect(s.width, s.id).toBeGreaterThan(0); // the stimulus file's thumbnail, decoded by the browser
        const score = Number(s.caption.match(/(?:predicted|s =) (-?[\d.]+)/)![1]);
        expect(Math.abs(score - choice.score!)).toBeLessThanOrEqual(0.051);
        const trials = rateOf(ch, 2, s.id);
        const [, value, n] = s.caption.match(/recorded (-?[\d.]+) \((\d+)\)/)!;
        expect(Number(n)).toBe(trials.length);
        expect(Math.abs(Number(value) - mean(trials))).toBeLessThanOrEqual(0.051);
      }
    }
    const retest = [...new Set(selections.filter((s) => s.rule === "retest").map((s) => s.stimulusId))];
    expect(
      await page
        .locator("#retest-list figure.thumb")
        .evaluateAll((fs) => fs.map((f) => f.getAttribute("data-stimulus"))),
    ).toEqual(retest);
  });

  it("writes channels.csv beside the report: every number recomputed from the store", () => {
    expect(files.csv.path).toBe(join(dir, "sessions", day.sessionId, "channels.csv"));
    expect(day.store.artifacts(day.sessionId, "channels-csv").map((a) => a.path)).toEqual([files.csv.path]);
    const [head, ...rows] = parseCsv(readFileSync(files.csv.path, "utf8"));
    expect(head.slice(0, 7)).toEqual([
      "channel",
      "included",
      "stability_r",
      "selectivity_p",
      "heldout_body_r",
      "object_r",
      "visualized",
    ]);
    const col = (row: string[], name: string) => row[head.indexOf(name)];
    expect(rows.map((r) => r[0])).toEqual(CHANNELS);
    const selections = day.store.selections(day.sessionId);
    const retest = [...new Set(selections.filter((s) => s.rule === "retest").map((s) => s.stimulusId))];
    const decisions = day.store.decisions(day.sessionId);
    const checks = day.store.checkResults(day.sessionId);
    const panels = new Set(day.store.artifacts(day.sessionId, "saliency").map((a) => a.channelId));
    for (const row of rows) {
      const ch = row[0];
      expect(col(row, "included")).toBe(decisions.find((d) => d.channelId === ch)!.included ? "1" : "0");
      // Stability: the retest images' phase-1 against phase-2 mean net rates.
      const stability = pearsonR(
        retest.map((id) => mean(rateOf(ch, 1, id))),
        retest.map((id) => mean(rateOf(ch, 2, id))),
      );
      expect(Number(col(row, "stability_r"))).toBeCloseTo(stability, 12);
      const p = checks.find((c) => c.channelId === ch && c.name === "selectivity")!.value!;
      expect(Number(col(row, "selectivity_p"))).toBe(p);
      const model = day.store.models(day.sessionId).find((m) => m.channelId === ch)!;
      expect(Number(col(row, "heldout_body_r"))).toBe((model.params as { testR: number }).testR);
      // Object r: without cached features, the scores stored with the top and bottom objects against their
      // phase-2 means.
      const objects = selections.filter((s) => s.channelId === ch && /^(top|bottom)-object$/.test(s.rule));
      expect(Number(col(row, "n_objects"))).toBe(objects.length);
      expect(Number(col(row, "object_r"))).toBeCloseTo(
        pearsonR(
          objects.map((s) => s.score!),
          objects.map((s) => mean(rateOf(ch, 2, s.stimulusId))),
        ),
        12,
      );
      expect(col(row, "visualized")).toBe(panels.has(ch) ? "1" : "0");
      expect(col(row, "reason")).toBe(decisions.find((d) => d.channelId === ch)!.reason);
    }
  });

  it("bins every stored spike into the PSTHs, and draws each raster row's stored spikes", async () => {
    const data = await assembleReportData(day.store, day.sessionId, { config: day.config });
    const psth = data.psth!;
    expect([psth.binMs, psth.startMs, psth.endMs]).toEqual([BIN, START, START + BINS * BIN]);
    const trials = new Map(day.store.trials(day.sessionId).map((t) => [t.trialId, t]));
    const category = new Map(day.stimuli.map((s) => [s.id, s.category]));
    // channel \0 phase \0 category → bins and presentations; channel \0 trial → spikes in the span.
    const bins = new Map<string, { counts: number[]; trials: number }>();
    const spikesOf = new Map<string, number[]>();
    for (const part of day.store.trialData(day.sessionId)) {
      const t = trials.get(part.trialId)!;
      if (t.status !== "shown") continue;
      part.channelIds.forEach((ch, c) => {
        const key = `${ch}\u0000${t.phase}\u0000${category.get(t.stimulusId)}`;
        const b = bins.get(key) ?? { counts: Array(BINS).fill(0), trials: 0 };
        bins.set(key, b);
        b.trials++;
        const inSpan: number[] = [];
        for (const s of part.spikes!.subarray(part.offsets![c], part.offsets![c + 1])) {
          const i = Math.floor((s - START) / BIN);
          if (s >= START && i < BINS) {
            b.counts[i]++;
            inSpan.push(s);
          }
        }
        spikesOf.set(`${ch}\u0000${part.trialId}`, inSpan);
      });
    }
    expect(psth.channels.map((c) => c.channelId)).toEqual(CHANNELS);
    let groups = 0;
    for (const c of psth.channels)
      for (const ph of c.phases) {
        for (const g of ph.groups) {
          const mine = bins.get(`${c.channelId}\u0000${ph.phase}\u0000${g.group}`)!;
          expect(g.counts).toEqual(mine.counts);
          expect(g.trials).toBe(mine.trials);
          groups++;
        }
        const shown = [...trials.values()].filter((t) => t.phase === ph.phase && t.status === "shown");
        expect(ph.raster).toHaveLength(Math.min(30, shown.length));
        for (const r of ph.raster) expect(r.spikes).toEqual(spikesOf.get(`${c.channelId}\u0000${r.trialId}`));
        // Raster rows in presentation order, first at the top.
        expect(ph.raster.map((r) => r.trialId)).toEqual(
          [...ph.raster.map((r) => r.trialId)].sort((a, b) => a - b),
        );
      }
    // Phase 1 shows bodies only; phase 2 bodies (control and retest) and objects.
    expect(groups).toBe(CHANNELS.length * 3);
    // The page: one figure per channel, one tick per raster spike.
    for (const c of psth.channels) {
      const ticks = await page
        .locator(
          `figure[data-figure="psth"][data-channel="${c.channelId}"] svg [aria-roledescription="tick"]`,
        )
        .count();
      expect(ticks, c.channelId).toBe(
        c.phases.reduce((n, ph) => n + ph.raster.flatMap((r) => r.spikes).length, 0),
      );
    }
  });
});
