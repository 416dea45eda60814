// The report's phase-2 sections: the selection (each channel's images by rule, with thumbnail, stored score and
// recorded response; the shared retest images) and the test/retest scatter per channel (Lappe et al. 2024,
// Fig. 3a's brown points: the retest images' phase-1 against phase-2 responses, with r).
import type { TopLevelSpec } from "vega-lite";
import { renderChart } from "./charts.ts";
import { esc, img, num, table } from "./html.ts";
import { whyMissing } from "./sections.ts";
import type { ReportData, ReportImage, ReportRetest, ReportSelectedImage } from "./types.ts";

/** What each rule chose, and what its score is. */
const RULES: Record<string, { label: string; score: "predicted" | "s" }> = {
  "top-object": { label: "Top objects: highest predicted response", score: "predicted" },
  "bottom-object": { label: "Bottom objects: lowest predicted response", score: "predicted" },
  "similar-object": { label: "Objects most similar (s) to the channel's top body", score: "s" },
  "top-control": { label: "Top control bodies: highest predicted response", score: "predicted" },
  "bottom-control": { label: "Bottom control bodies: lowest predicted response", score: "predicted" },
  "similar-control": { label: "Control bodies most similar (s) to the channel's top body", score: "s" },
  synthesized: { label: "Synthesized on the channel's model", score: "predicted" },
};

/** A stimulus id that may wrap after "/" or "-" (set/name ids are long for a thumbnail's width). */
const idHtml = (id: string) => esc(id).replace(/([/-])/g, "$1<wbr>");

const thumb = (image: ReportImage | null, id: string) =>
  image ? img(image, id) : `<span class="no-thumb" title="image file not readable">no image</span>`;

function cell(im: ReportSelectedImage): string {
  const kind = RULES[im.rule]?.score ?? "predicted";
  const score =
    im.score === null
      ? "no score stored"
      : kind === "s"
        ? `s = ${num(im.score, 2)}`
        : `predicted ${num(im.score, 1)}`;
  const recorded = im.recorded === null ? "not recorded" : `recorded ${num(im.recorded, 1)} (${im.trials})`;
  return `<figure class="thumb" data-stimulus="${esc(im.stimulusId)}" data-rule="${esc(im.rule)}">${thumb(im.thumbnail, im.stimulusId)}<figcaption><b>${idHtml(im.stimulusId)}</b><br>${esc(score)}<br>${esc(recorded)}</figcaption></figure>`;
}

export function selectionSection(data: ReportData): string {
  const head = `<section id="selection"><h2>Phase-2 selection</h2>`;
  const sel = data.selection;
  if (!sel || (sel.channels.length === 0 && sel.retest.length === 0))
    return `${head}<p class="missing">${esc(whyMissing(data, "phase-2 selections", "selecting"))}</p></section>`;
  const excluded = new Map(data.decisions.filter((d) => !d.included).map((d) => [d.channelId, d.reason]));
  const panels = sel.channels.map((c) => {
    const rules = [...new Set(c.images.map((i) => i.rule))];
    const groups = rules.map(
      (rule) =>
        `<div class="rule-group" data-rule="${esc(rule)}"><div class="rule-label">${esc(RULES[rule]?.label ?? rule)}</div><div class="thumbs">${c.images
          .filter((i) => i.rule === rule)
          .map(cell)
          .join("")}</div></div>`,
    );
    const why = excluded.get(c.channelId);
    return `<div class="selection-channel" data-channel="${esc(c.channelId)}"><h3>${esc(c.channelId)}${
      why ? ` <span class="badge excluded">excluded</span> <span class="muted">${esc(why)}</span>` : ""
    }</h3><div class="rule-groups">${groups.join("")}</div></div>`;
  });
  const retest = sel.retest.length
    ? `<h3>Retest images (shown again for every channel)</h3><div class="thumbs" id="retest-list">${sel.retest
        .map(
          (r) =>
            `<figure class="thumb" data-stimulus="${esc(r.stimulusId)}">${thumb(r.thumbnail, r.stimulusId)}<figcaption><b>${idHtml(r.stimulusId)}</b><br>mean z ${num(r.score, 2)}</figcaption></figure>`,
        )
        .join("")}</div>`
    : "";
  return `${head}
<p>The images each channel's model chose for phase 2 (Lappe et al. 2024): the objects and control bodies with the
highest and lowest predicted response, and those most similar to the channel's most driving phase-1 body by the
neuron-specific similarity s (eq. 2). Each image: its stored score (predicted net rate in spikes/s, or s) and the
mean net rate recorded in phase 2, in spikes/s, with the number of presentations in brackets. The retest images are phase-1 images chosen
across the response range (score: mean z-scored phase-1 response over channels) to test stability.</p>
${panels.join("\n")}${retest}</section>`;
}

/** Fig. 3a's brown points: per channel, each retest image's phase-1 against phase-2 mean net rate. */
export function retestSpec(rows: ReportRetest[]): TopLevelSpec {
  const panel = (r: ReportRetest) =>
    `${r.channelId}: r = ${r.r === null ? "n/a" : r.r.toFixed(2)} (n = ${r.points.length})`;
  // Each panel its own square range, the same on both axes (the diagonal's two ends, 5 % beyond the points and
  // always including 0): the diagonal is the line of equal response, and a flat channel is not squashed.
  const values = rows.flatMap((r) => {
    const all = r.points.flatMap((p) => [p.phase1, p.phase2]);
    const lo = Math.min(0, ...all);
    const hi = Math.max(...all);
    const pad = 0.05 * (hi - lo || 1);
    return [
      ...r.points.map((p) => ({ ...p, panel: panel(r), kind: "retest" })),
      { panel: panel(r), kind: "diagonal", phase1: lo - pad, phase2: lo - pad },
      { panel: panel(r), kind: "diagonal", phase1: hi + pad, phase2: hi + pad },
    ];
  });
  const x = { field: "phase1", type: "quantitative", title: "phase 1 (spikes/s)", scale: { zero: false } };
  const y = { field: "phase2", type: "quantitative", title: "phase 2 (spikes/s)", scale: { zero: false } };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    background: "white",
    config: {
      font: "Helvetica, Arial, sans-serif",
      axis: { labelFontSize: 10, titleFontSize: 11 },
      header: { labelFontSize: 11 },
      view: { stroke: "#ddd" },
    },
    title: { text: "Test/retest: retest images, phase 1 vs phase 2", subtitle: "dashed: equal response" },
    data: { values },
    facet: { field: "panel", type: "nominal", sort: rows.map(panel), title: null },
    columns: 4,
    resolve: { scale: { x: "independent", y: "independent" } },
    spec: {
      width: 150,
      height: 150,
      layer: [
        {
          transform: [{ filter: "datum.kind === 'diagonal'" }],
          mark: { type: "line", color: "#999", strokeDash: [4, 3] },
          encoding: { x, y },
        },
        {
          transform: [{ filter: "datum.kind === 'retest'" }],
          mark: { type: "point", filled: true, size: 36, color: "#9d755d", opacity: 0.9 },
          encoding: {
            x,
            y,
            tooltip: [
              { field: "stimulusId" },
              { field: "phase1", format: ".1f" },
              { field: "phase2", format: ".1f" },
            ],
          },
        },
      ],
    },
  } as TopLevelSpec;
}

export async function renderRetestFigure(data: ReportData): Promise<string | null> {
  const rows = (data.retest ?? []).filter((r) => r.points.length > 0);
  return rows.length ? renderChart(retestSpec(rows)) : null;
}

export function retestSection(data: ReportData, figure: string | null): string {
  const head = `<section id="retest"><h2>Test/retest stability</h2>`;
  const rows = data.retest ?? [];
  if (rows.length === 0)
    return `${head}<p class="missing">${esc(whyMissing(data, "retest responses", "phase2"))}</p></section>`;
  const threshold = data.checks.find((c) => c.name === "stability")?.threshold ?? null;
  const body = rows.map((r) => [
    esc(r.channelId),
    `<span class="num">${r.points.length}</span>`,
    `<span class="num">${num(r.r)}</span>`,
    `<span class="num">${num(r.storedR)}</span>`,
  ]);
  return `${head}
<p>Each channel's retest images: the mean net rate over the phase-1 presentations against that over the phase-2
presentations, and the Pearson r over them — the stability check (kept when r &gt; ${num(threshold)}). A channel whose
recording drifted between the phases falls off the diagonal.</p>
${table(["Channel", "Retest images", "r (these points)", "r stored with the check"], body, "retest")}
${figure ? `<figure class="chart" data-figure="retest">${figure}<figcaption>Brown points: retest images (Lappe et al. 2024, Fig. 3a). Axes: mean net rate, spikes/s.</figcaption></figure>` : ""}
</section>`;
}
