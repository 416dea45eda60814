// The report's "Causal test" section (phase 3): for each channel, the images of its pair and their fragments in a
// row, each with its recorded mean net rate (trials) and the model's prediction; per image the verdict of the
// highlighted fragment against the random ones and against the complement; across channels the signed-rank tests.
import { dataUri, esc, num, table } from "./html.ts";
import type { ReportCausalParent, ReportCausalTile, ReportData } from "./types.ts";

const p = (v: number | null) => (v === null ? "n/a" : v < 0.001 ? v.toExponential(1) : v.toFixed(3));

function tile(t: ReportCausalTile): string {
  const label = t.kind === "random" ? `random ${t.n}` : t.kind;
  const pic = t.image
    ? `<img src="${dataUri(t.image)}" alt="${esc(`${label} of ${t.stimulusId}`)}">`
    : '<div class="missing">no image</div>';
  return `<figure class="fragment" data-kind="${esc(t.kind)}">${pic}<figcaption>${esc(label)}<br>rec ${num(t.recorded, 1)} <span class="muted">(${t.trials})</span><br>pred ${num(t.predicted, 1)}${t.visible !== null ? `<br><span class="muted">${Math.round(t.visible * 100)} % shown</span>` : ""}</figcaption></figure>`;
}

function parentRow(channelId: string, q: ReportCausalParent, alpha: number): string {
  const hit = q.vsRandomP !== null && q.vsRandomP < alpha;
  const what = q.rank ? `object of rank ${q.rank}` : q.role;
  return `<div class="causal-row" data-channel="${esc(channelId)}" data-role="${esc(q.role)}" data-rank="${q.rank ?? 0}" data-verdict="${esc(q.verdict)}">
<h4>${esc(channelId)} · ${esc(what)} ${esc(q.parentId)}: <span class="${hit ? "pass" : "muted"}">${esc(q.verdict)}</span></h4>
<p class="muted">highlighted vs random: p = ${p(q.vsRandomP)}, effect ${num(q.effect, 2)} of the full image's response; highlighted vs complement: p = ${p(q.vsComplementP)}, effect ${num(q.effectComplement, 2)}. Full image's rate from ${esc(q.fullFrom)}.</p>
<div class="fragments">${q.tiles.map(tile).join("")}</div></div>`;
}

export function causalSection(data: ReportData): string {
  const c = data.causal;
  if (!c) return "";
  const head = `<section id="causal"><h2>Causal test (phase 3)</h2>`;
  if (c.channels.length === 0)
    return `${head}<p class="missing">No channel had shared-feature maps to cut fragments from, so phase 3 showed nothing.</p></section>`;
  const s = c.settings;
  // phase3.topObjects: the channels' further objects, counted but not in the signed-rank test (one effect per
  // channel keeps the channels the independent units).
  const further = c.channels.flatMap((ch) => ch.parents.filter((q) => q.rank));
  const intro = `<p>Each visualized channel's object and body were shown again as fragments cut along their shared-feature
maps: <b>highlighted</b> (only the most salient ${s ? `${Math.round(s.areaFraction * 100)} % of the image ${s.basis === "mass" ? "(by map mass)" : "(by area)"}, at most half of the object's own pixels` : "region"} visible, the rest grey${s ? `, edge σ ${num(s.softnessPx, 1)} px` : ""}),
its <b>complement</b> (that region greyed out), and <b>random</b> fragments (a region of the same area and shape placed at
random on the image's silhouette${s ? `, ${s.randomCount} per image` : ""}). If the map explains the response, the highlighted fragment drives the
channel more than the random ones.${further.length ? ` The channels' further objects (protocol phase3.topObjects), each cut along the maps of its own pair with the body most similar to it, are shown as "object of rank k".` : ""} Test: ${esc(c.test)}; α = ${num(c.alpha, 3)}. Under each tile: the recorded mean net
rate in spikes/s (presentations) and the model's prediction.</p>`;
  const more = (rows: ReportCausalParent[]) =>
    rows.filter((q) => q.vsRandomP !== null && q.vsRandomP < c.alpha && (q.effect ?? 0) > 0);
  const summaryRows = (["object", "body"] as const).map((role) => {
    const rows = c.channels.flatMap((ch) => ch.parents.filter((q) => q.role === role && !q.rank));
    const a = c.across[role];
    return [
      role,
      String(rows.length),
      `${more(rows).length} of ${rows.length}`,
      a ? num(a.statistic, 1) : "n/a",
      a ? p(a.p) : "n/a",
      a ? esc(a.method) : "fewer than one effect",
    ];
  });
  if (further.length)
    summaryRows.push([
      "further objects",
      String(
        new Set(c.channels.filter((ch) => ch.parents.some((q) => q.rank)).map((ch) => ch.channelId)).size,
      ),
      `${more(further).length} of ${further.length}`,
      "n/a",
      "n/a",
      "per image only (the signed-rank test takes one effect per channel: its pair's)",
    ]);
  const summary = table(
    ["Image", "channels", "highlighted > random", "signed-rank W", "p", "test"],
    summaryRows,
    "causal-summary",
  );
  const rows = c.channels.flatMap((ch) => ch.parents.map((q) => parentRow(ch.channelId, q, c.alpha)));
  return `${head}${intro}${summary}${rows.join("\n")}</section>`;
}
