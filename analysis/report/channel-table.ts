// One row per channel with the numbers a lab sorts channels by: the checks' decision and values, the model's
// held-out body r and its object r (prediction against the phase-2 recording of the objects shown), and whether
// the channel has shared-feature panels. Written as channels.csv beside report.html and shown in the report.
import { esc, num, table } from "./html.ts";
import { objectCorrelation, whyMissing } from "./sections.ts";
import type { ReportChannelSummary, ReportData } from "./types.ts";

/** The per-channel rows, in the report's channel order. */
export function channelSummary(data: ReportData): ReportChannelSummary[] {
  const decision = new Map(data.decisions.map((d) => [d.channelId, d]));
  const model = new Map(data.models.map((m) => [m.channelId, m]));
  const objects = new Map(data.objectPredictions.map((o) => [o.channelId, o]));
  const visualized = new Set(data.sharedFeatures.map((f) => f.channelId));
  const check = (id: string, name: string) =>
    data.checks.find((c) => c.channelId === id && c.name === name)?.value ?? null;
  return data.channels.map((c) => {
    const d = decision.get(c.id);
    const m = model.get(c.id);
    const o = objects.get(c.id);
    const oc = o ? objectCorrelation(o.points) : null;
    return {
      channel: c.id,
      probe: c.probe,
      index: c.index,
      included: d ? d.included : null,
      reason: d?.reason ?? "",
      stabilityR: check(c.id, "stability"),
      selectivityP: check(c.id, "selectivity"),
      responsivenessRate: check(c.id, "responsiveness"),
      splitHalfR: check(c.id, "split-half"),
      kruskalWallisP: check(c.id, "kruskal-wallis"),
      heldoutBodyR: m?.testR ?? null,
      heldoutBodies: m ? m.nTest : 0,
      // The r the visualize step stored (the one that gated the maps) where there is one; else recomputed.
      objectR: m?.objectR ?? oc?.r ?? null,
      objects: m?.objectN ?? oc?.n ?? 0,
      visualized: visualized.has(c.id),
    };
  });
}

/** The columns of channels.csv, in order, with what each holds. */
export const CSV_COLUMNS: Array<[string, (r: ReportChannelSummary) => string | number | null]> = [
  ["channel", (r) => r.channel],
  ["included", (r) => (r.included === null ? null : r.included ? 1 : 0)],
  ["stability_r", (r) => r.stabilityR],
  ["selectivity_p", (r) => r.selectivityP],
  ["heldout_body_r", (r) => r.heldoutBodyR],
  ["object_r", (r) => r.objectR],
  ["visualized", (r) => (r.visualized ? 1 : 0)],
  ["probe", (r) => r.probe],
  ["index", (r) => r.index],
  ["responsiveness_rate", (r) => r.responsivenessRate],
  ["split_half_r", (r) => r.splitHalfR],
  ["kruskal_wallis_p", (r) => r.kruskalWallisP],
  ["n_heldout_bodies", (r) => r.heldoutBodies],
  ["n_objects", (r) => r.objects],
  ["reason", (r) => r.reason],
];

/** A CSV field (RFC 4180): empty for null, numbers in full precision, text quoted when it needs to be. */
function field(v: string | number | null): string {
  if (v === null) return "";
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : "";
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** channels.csv: a header line, then one line per channel (\n line ends). */
export function channelsCsv(rows: ReportChannelSummary[]): string {
  return [
    CSV_COLUMNS.map(([name]) => name).join(","),
    ...rows.map((r) => CSV_COLUMNS.map(([, get]) => field(get(r))).join(",")),
  ]
    .map((line) => `${line}\n`)
    .join("");
}

export function channelSummarySection(data: ReportData): string {
  const rows = data.channelSummary ?? [];
  if (rows.length === 0) return "";
  if (data.decisions.length === 0 && data.models.length === 0)
    return `<section id="channel-summary"><h2>Channels at a glance</h2><p class="missing">${esc(
      whyMissing(data, "channel numbers", "fitting"),
    )} channels.csv lists the channels with empty cells.</p></section>`;
  const body = rows.map((r) => [
    esc(r.channel),
    r.included === null
      ? '<span class="muted">no decision</span>'
      : r.included
        ? '<span class="pass">yes</span>'
        : '<span class="fail-text">no</span>',
    `<span class="num">${num(r.stabilityR)}</span>`,
    `<span class="num">${num(r.selectivityP)}</span>`,
    `<span class="num">${num(r.heldoutBodyR)}</span> <span class="muted">(${r.heldoutBodies})</span>`,
    `<span class="num">${num(r.objectR)}</span> <span class="muted">(${r.objects})</span>`,
    r.visualized ? "yes" : "—",
  ]);
  return `<section id="channel-summary"><h2>Channels at a glance</h2>
<p>One row per channel; the same numbers, with more columns, are in <code>channels.csv</code> beside this report.
Object r: the model's predictions against the phase-2 recording of the objects shown (n objects).</p>
${table(["Channel", "Included", "Stability r", "Selectivity p", "Held-out body r (n)", "Object r (n)", "Shared-feature panels"], body, "channel-summary")}
</section>`;
}
