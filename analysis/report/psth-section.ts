// The report's PSTH and raster section: per channel one figure, each phase a column with its PSTH (spikes/s per
// stimulus category, the counting windows shaded, onset marked) above its raster (evenly spaced presentations in
// presentation order). The numbers come from psth.ts; this draws them.
import type { TopLevelSpec } from "vega-lite";
import { renderChart } from "./charts.ts";
import { esc } from "./html.ts";
import { RASTER_ROWS } from "./psth.ts";
import { whyMissing } from "./sections.ts";
import type { ReportData, ReportPsth } from "./types.ts";

const GROUP_COLORS: Record<string, string> = {
  body: "#4c78a8",
  object: "#f58518",
  synthesized: "#54a24b",
};
const WINDOW_COLORS: Record<string, string> = { baseline: "#bab0ac", response: "#f2cf5b" };
const WINDOW_OPACITY = 0.3;

/** A channel's PSTH rows: rate (spikes/s) per bin, step-drawn from each bin's left edge to the span's end. */
function psthRows(psth: ReportPsth, phase: ReportPsth["channels"][number]["phases"][number]) {
  return phase.groups.flatMap((g) => {
    const label = `${g.group} (${g.trials})`;
    const rate = (c: number) => c / ((g.trials * psth.binMs) / 1000);
    return [
      ...g.counts.map((c, i) => ({ t: psth.startMs + i * psth.binMs, rate: rate(c), group: g.group, label })),
      { t: psth.endMs, rate: rate(g.counts.at(-1) ?? 0), group: g.group, label },
    ];
  });
}

/** Vega-Lite spec of one channel: per phase, PSTH over raster, sharing the time axis. */
export function psthSpec(psth: ReportPsth, channel: ReportPsth["channels"][number]): TopLevelSpec {
  const groups = [...new Set(channel.phases.flatMap((p) => p.groups.map((g) => g.group)))];
  const color = {
    field: "group",
    type: "nominal",
    scale: { domain: groups, range: groups.map((g) => GROUP_COLORS[g] ?? "#888888") },
    title: "stimuli",
  };
  const x = {
    field: "t",
    type: "quantitative",
    scale: { domain: [psth.startMs, psth.endMs], nice: false },
  };
  const column = (p: ReportPsth["channels"][number]["phases"][number]) => ({
    vconcat: [
      {
        title: { text: `phase ${p.phase}`, anchor: "start", fontSize: 12 },
        width: 300,
        height: 120,
        layer: [
          {
            data: { values: psth.windows },
            mark: { type: "rect", opacity: WINDOW_OPACITY },
            encoding: {
              x: { field: "startMs", type: "quantitative", scale: x.scale },
              x2: { field: "endMs" },
              color: {
                field: "name",
                type: "nominal",
                scale: {
                  domain: psth.windows.map((w) => w.name),
                  range: psth.windows.map((w) => WINDOW_COLORS[w.name] ?? "#dddddd"),
                },
              },
            },
          },
          {
            data: { values: [{ t: 0 }] },
            mark: { type: "rule", color: "#444", strokeDash: [3, 3] },
            encoding: { x: { field: "t", type: "quantitative", scale: x.scale } },
          },
          {
            data: { values: psthRows(psth, p) },
            mark: { type: "line", interpolate: "step-after", strokeWidth: 1.5 },
            encoding: {
              x: { ...x, title: null },
              y: { field: "rate", type: "quantitative", title: "rate (spikes/s)" },
              color,
              detail: { field: "label" },
            },
          },
        ],
        resolve: { scale: { color: "independent" } },
      },
      {
        width: 300,
        height: 4 * Math.max(8, p.raster.length),
        data: {
          values: p.raster.flatMap((r) => r.spikes.map((t) => ({ t, row: r.row, group: r.group }))),
        },
        mark: { type: "tick", orient: "vertical", thickness: 1 },
        encoding: {
          x: { ...x, title: "time from stimulus onset (ms)" },
          y: {
            field: "row",
            type: "ordinal",
            scale: { domain: p.raster.map((r) => r.row) },
            axis: { labels: false, ticks: false },
            title: `${p.raster.length} presentations`,
            // first presentation at the top
          },
          color,
        },
      },
    ],
  });
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    background: "white",
    config: {
      font: "Helvetica, Arial, sans-serif",
      axis: { labelFontSize: 10, titleFontSize: 11 },
      // One legend for every figure, in the section's text (psthLegend), not two per figure.
      legend: { disable: true },
      view: { stroke: "#ddd" },
      concat: { spacing: 6 },
    },
    hconcat: channel.phases.map(column),
    spacing: 28,
  } as TopLevelSpec;
}

/** The rendered figure of every channel that has spike data, by channel id. */
export async function renderPsthFigures(data: ReportData): Promise<Map<string, string>> {
  const psth = data.psth;
  if (!psth) return new Map();
  const out = await Promise.all(
    psth.channels.map(async (c) => [c.channelId, await renderChart(psthSpec(psth, c))] as const),
  );
  return new Map(out);
}

const swatch = (color: string, text: string, line = true) =>
  `<span class="key"><span style="display:inline-block;width:18px;height:${line ? 3 : 10}px;vertical-align:middle;background:${color};opacity:${line ? 1 : WINDOW_OPACITY}"></span> ${esc(text)}</span>`;

/** The colours of the figures: one per stimulus category present, and the two windows. */
function psthLegend(p: ReportPsth): string {
  const groups = [
    ...new Set(p.channels.flatMap((c) => c.phases.flatMap((ph) => ph.groups.map((g) => g.group)))),
  ];
  return `<p class="legend">${[
    ...groups.map((g) => swatch(GROUP_COLORS[g] ?? "#888888", `${g} images`)),
    ...p.windows.map((w) =>
      swatch(WINDOW_COLORS[w.name] ?? "#dddddd", `${w.name} window (${w.startMs}…${w.endMs} ms)`, false),
    ),
  ].join(" &nbsp; ")}</p>`;
}

export function psthSection(data: ReportData, figures: Map<string, string>): string {
  const head = `<section id="psth"><h2>PSTHs and rasters</h2>`;
  const p = data.psth;
  if (!p || p.channels.length === 0) {
    const why =
      p && p.withoutSpikes > 0
        ? `No spike times were stored: the acquisition bridge sent counts only (${p.withoutSpikes} presentations), so there is nothing to bin.`
        : whyMissing(data, "spike times", "phase1");
    return `${head}<p class="missing">${esc(why)}</p></section>`;
  }
  const excluded = new Map(data.decisions.filter((d) => !d.included).map((d) => [d.channelId, d.reason]));
  const windows = p.windows.map((w) => `${w.name} ${w.startMs}…${w.endMs} ms`).join(", ");
  const panels = p.channels.map((c) => {
    const why = excluded.get(c.channelId);
    const counts = c.phases
      .map((ph) => `phase ${ph.phase}: ${ph.groups.map((g) => `${g.trials} ${g.group}`).join(", ")}`)
      .join("; ");
    return `<figure class="chart" data-figure="psth" data-channel="${esc(c.channelId)}">
<h3>${esc(c.channelId)}${why ? ` <span class="badge excluded">excluded</span> <span class="muted">${esc(why)}</span>` : ""}</h3>
${figures.get(c.channelId) ?? ""}<figcaption>Presentations per curve — ${esc(counts)}.</figcaption></figure>`;
  });
  return `${head}
<p>Spike times as the acquisition bridge sent them (ms from stimulus onset), in bins of ${esc(p.binMs)} ms from
${esc(p.startMs)} to ${esc(p.endMs)} ms, over every shown presentation; one curve per stimulus category, in spikes/s
(spikes per bin ÷ presentations ÷ bin width). Shaded: the counting windows (${esc(windows)}); dashed: stimulus onset.
Rasters: up to ${RASTER_ROWS} presentations per phase, evenly spaced over the phase, first at the top.${
    p.withoutSpikes
      ? ` ${esc(p.withoutSpikes)} presentations had counts but no spike times and are not in the curves.`
      : ""
  }</p>
${psthLegend(p)}
${panels.join("\n")}</section>`;
}
