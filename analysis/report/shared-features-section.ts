// The report's shared-features section (Lappe et al. 2024, Fig. 4): per visualized channel, the (object, body) pair
// as plain images and with its parallel-backprop maps laid over them on ONE intensity scale for every panel (the
// colour bar at the top), the readout location marked, the pair's similarity s and the bound ‖I‖ ≤ s drawn for
// both maps, the recorded and predicted rates of the pair with their ranks, the features that carry the β mass, and
// the share of each map's mass that lies on the pictured thing (its silhouette) rather than on the background.
import { esc, img, num } from "./html.ts";
import { whyMissing } from "./sections.ts";
import type { PairRate, ReportData, ReportImage, ReportSharedFeature, SilhouetteMass } from "./types.ts";

/** The overlay's colours (analysis/saliency/overlay.ts): red → yellow with alpha 0.85·t over the image dimmed to 60 %. */
function overlayColour(t: number, under = 0.6 * 128): string {
  const a = 0.85 * t;
  const mix = (c: number) => Math.round((1 - a) * under + a * c);
  return `rgb(${mix(255)},${mix(255 * t)},${mix(0)})`;
}

/** A horizontal colour bar from 0 to `scale` (per-pixel intensity Σ_c|I_c|), on the demo's gray background. */
export function colourBar(scale: number): string {
  const stops = Array.from({ length: 11 }, (_, i) => i / 10)
    .map((t) => `<stop offset="${t}" stop-color="${overlayColour(t)}"/>`)
    .join("");
  return `<figure class="sf-colourbar"><svg width="360" height="46" viewBox="0 0 360 46" role="img" aria-label="colour scale 0 to ${num(scale)}">
<defs><linearGradient id="sf-grad" x1="0" x2="1" y1="0" y2="0">${stops}</linearGradient></defs>
<rect x="10" y="4" width="340" height="16" fill="url(#sf-grad)" stroke="#999"/>
<text x="10" y="36" font-size="11">0</text><text x="180" y="36" font-size="11" text-anchor="middle">${num(scale / 2)}</text>
<text x="350" y="36" font-size="11" text-anchor="end">${num(scale)}</text></svg>
<figcaption>Map intensity per pixel, Σ<sub>c</sub>|I<sub>c</sub>(x)|, on one scale for every panel (the largest pixel of any map =
${num(scale)}); a dim map is a weak one, not a rescaled one.</figcaption></figure>`;
}

/** The readout location on the image: feature-map pixel j of w spans image pixels [j, j+1)·size/w, centre j+½. */
export function readoutMarker(r: NonNullable<ReportSharedFeature["readout"]>): string {
  const cell = r.imageSize / r.w;
  const cx = (((r.location[0] + 1) / 2) * (r.w - 1) + 0.5) * cell;
  const cy = (((r.location[1] + 1) / 2) * (r.h - 1) + 0.5) * (r.imageSize / r.h);
  return `<svg class="sf-marker" viewBox="0 0 ${r.imageSize} ${r.imageSize}" aria-hidden="true">
<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="${(cell / 2).toFixed(1)}" fill="none" stroke="#00e5ff" stroke-width="2"/>
<path d="M${(cx - cell).toFixed(1)} ${cy.toFixed(1)}h${(cell / 2).toFixed(1)}M${(cx + cell / 2).toFixed(1)} ${cy.toFixed(1)}h${(cell / 2).toFixed(1)}M${cx.toFixed(1)} ${(cy - cell).toFixed(1)}v${(cell / 2).toFixed(1)}M${cx.toFixed(1)} ${(cy + cell / 2).toFixed(1)}v${(cell / 2).toFixed(1)}" stroke="#00e5ff" stroke-width="2"/></svg>`;
}

function picture(
  image: ReportImage | null | undefined,
  alt: string,
  caption: string,
  marker: string,
  missing: string,
): string {
  if (!image) return `<figure class="sf-img"><p class="missing">${esc(missing)}</p></figure>`;
  return `<figure class="sf-img"><div class="sf-frame">${img(image, alt)}${marker}</div><figcaption>${esc(caption)}</figcaption></figure>`;
}

/** ‖I‖ against its bound s, as bars on a scale shared by the section (`top` = the largest s of any panel). */
export function boundBars(
  normOut: number | null,
  normIn: number | null,
  s: number | null,
  top: number,
): string {
  if (s === null || !(top > 0)) return "n/a";
  const width = 130;
  const x = (v: number) => Math.max(0, Math.min(width, (v / top) * width));
  const bar = (label: string, v: number | null, y: number) =>
    v === null
      ? ""
      : `<rect x="0" y="${y}" width="${x(v).toFixed(1)}" height="9" fill="#4c78a8"/><text x="${width + 6}" y="${y + 8}" font-size="11">${label} ${num(v)}</text>`;
  return `<svg width="${width + 110}" height="36" viewBox="0 0 ${width + 110} 36" role="img" aria-label="map norms against the bound s">
${bar("object", normOut, 2)}${bar("body", normIn, 16)}
<line x1="${x(s).toFixed(1)}" x2="${x(s).toFixed(1)}" y1="0" y2="28" stroke="#c62828" stroke-width="2"/>
<text x="${x(s).toFixed(1)}" y="36" font-size="9" text-anchor="middle" fill="#c62828">s = ${num(s)}</text></svg>`;
}

const rate = (r: PairRate | null | undefined) =>
  r
    ? `${num(r.recorded, 1)} spikes/s recorded (rank ${r.rank} of ${r.of}), ${r.predicted === null ? "prediction n/a" : `${num(r.predicted, 1)} predicted`}`
    : "n/a";
const pct = (v: number) => `${(100 * v).toFixed(0)} %`;
const mass = (m: SilhouetteMass | null | undefined) =>
  m
    ? `${pct(m.onSilhouette)} <span class="muted">on ${pct(m.silhouetteArea)} of the image (${(m.onSilhouette / Math.max(m.silhouetteArea, 1e-9)).toFixed(1)}× its share)</span>` +
      (m.nearSilhouette !== undefined && m.nearArea !== undefined
        ? `; ${pct(m.nearSilhouette)} <span class="muted">within ${m.haloPx} px of it (${pct(m.nearArea)} of the image)</span>`
        : "")
    : "n/a";

function panel(f: ReportSharedFeature, topS: number, excluded: boolean): string {
  const marker = f.readout ? readoutMarker(f.readout) : "";
  const overlay = f.sharedScale ? "shared scale" : "stored overlay, its own scale";
  const rows: Array<[string, string]> = [
    ["pair similarity s (eq. 2)", num(f.s)],
    ["map norms ‖I‖ against the bound s", boundBars(f.normOut, f.normIn, f.s, topS)],
    ["object", rate(f.objectRate)],
    ["body", rate(f.bodyRate)],
    ["map mass on the object", mass(f.objectMass)],
    ["map mass on the body", mass(f.bodyMass)],
    [
      "model",
      `object r ${num(f.objectR ?? null, 2)}${f.objectN ? ` (${f.objectN} objects)` : ""}, held-out body r ${num(f.testR ?? null, 2)}`,
    ],
    ["features kept k; dropped β mass (error bound)", `${num(f.k)}; ${num(f.dropped)}`],
    [
      "top features (β)",
      f.topFeatures?.length
        ? f.topFeatures
            .slice(0, 5)
            .map((t) => `#${t.index} (${num(t.beta)})`)
            .join(", ")
        : "n/a",
    ],
  ];
  return `<div class="panel sf-panel${excluded ? " excluded" : ""}" data-channel="${esc(f.channelId)}">
<h3>${esc(f.channelId)}${excluded ? ' <span class="badge excluded">excluded</span>' : ""} <span class="muted">${esc(f.objectId)} · ${esc(f.bodyId)}</span></h3>
<div class="sf-pics">
${f.objectPlain !== undefined ? picture(f.objectPlain, `object ${f.objectId}`, "object", "", `object ${f.objectId}: image not readable`) : ""}
${picture(f.objectImage, `object ${f.objectId} with saliency overlay`, `object: map (${overlay})`, marker, `object ${f.objectId}: no overlay image stored`)}
${f.bodyPlain !== undefined ? picture(f.bodyPlain, `body ${f.bodyId}`, "body", "", `body ${f.bodyId}: image not readable`) : ""}
${picture(f.bodyImage, `body ${f.bodyId} with saliency overlay`, `body: map (${overlay})`, marker, `body ${f.bodyId}: no overlay image stored`)}
</div>
<table class="kv"><tbody>${rows.map(([k, v]) => `<tr><th scope="row">${esc(k)}</th><td>${v}</td></tr>`).join("")}</tbody></table>
${f.note ? `<p class="muted">${esc(f.note)}</p>` : ""}</div>`;
}

const SECTION_STYLE = `<style>
#shared-features .sf-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(500px, 1fr)); gap: 14px; }
#shared-features .sf-panel { max-width: none; }
#shared-features .sf-pics { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 6px; max-width: 460px; }
#shared-features .sf-img { margin: 0; }
#shared-features .sf-frame { position: relative; line-height: 0; }
#shared-features .sf-frame img { width: 100%; height: auto; border: 1px solid var(--line); }
#shared-features .sf-marker { position: absolute; inset: 0; width: 100%; height: 100%; }
#shared-features .sf-colourbar { margin: 4px 0 10px; }
#shared-features .sf-panel table.kv { width: 100%; table-layout: fixed; font-size: 12px; }
#shared-features .sf-panel table.kv th { width: 36%; white-space: normal; }
@media print { #shared-features .sf-grid { grid-template-columns: 1fr 1fr; } }
</style>`;

/** Channels without a panel, with why: excluded by the checks, passed over by the visualize step, or no artifact. */
function withoutPanel(data: ReportData): string {
  const have = new Set(data.sharedFeatures.map((f) => f.channelId));
  const decision = new Map(data.decisions.map((d) => [d.channelId, d]));
  const skipped = new Map((data.sharedFeatureSkips ?? []).map((k) => [k.channelId, k.reason]));
  const rest = data.channels.filter((c) => !have.has(c.id));
  if (rest.length === 0) return "";
  const why = (id: string) => {
    const d = decision.get(id);
    if (d && !d.included) return `excluded by the checks (${d.reason})`;
    const k = skipped.get(id);
    return k ? `not visualized: ${k}` : "no saliency artifact stored";
  };
  return `<p class="muted" id="no-panel">Without a panel: ${rest.map((c) => `<b>${esc(c.id)}</b> — ${esc(why(c.id))}`).join("; ")}.</p>`;
}

export function sharedFeaturesSection(data: ReportData): string {
  const head = `<section id="shared-features"><h2>Shared features</h2>`;
  const gate =
    data.minObjectR !== undefined && data.minObjectR !== null
      ? ` Only channels that passed the checks and whose model predicts the phase-2 objects (object r &gt; ${num(data.minObjectR, 2)}, as Lappe et al. 2024) are visualized.`
      : "";
  if (data.sharedFeatures.length === 0)
    return `${head}<p class="missing">${esc(whyMissing(data, "shared-feature visualizations", "visualizing"))}</p>${gate ? `<p>${gate}</p>` : ""}${withoutPanel(data)}</section>`;
  const excluded = new Set(data.decisions.filter((d) => !d.included).map((d) => d.channelId));
  const topS = Math.max(0, ...data.sharedFeatures.map((f) => f.s ?? 0));
  const masses = data.sharedFeatures.flatMap((f) =>
    [f.objectMass, f.bodyMass].flatMap((m) => (m ? [m.onSilhouette] : [])),
  );
  const meanMass = masses.length ? masses.reduce((a, b) => a + b, 0) / masses.length : null;
  const areas = data.sharedFeatures.flatMap((f) =>
    [f.objectMass, f.bodyMass].flatMap((m) => (m ? [m.silhouetteArea] : [])),
  );
  const meanArea = areas.length ? areas.reduce((a, b) => a + b, 0) / areas.length : null;
  const near = data.sharedFeatures.flatMap((f) =>
    [f.objectMass, f.bodyMass].flatMap((m) => (m?.nearSilhouette !== undefined ? [m.nearSilhouette] : [])),
  );
  const meanNear = near.length ? near.reduce((a, b) => a + b, 0) / near.length : null;
  const halo = data.sharedFeatures.find((f) => f.objectMass?.haloPx !== undefined)?.objectMass?.haloPx;
  return `${head}${SECTION_STYLE}
<p>For each visualized channel, the most similar (object, body) pair among its top recorded drivers and where the channel's
model finds their shared features: β<sub>i</sub> = a<sub>in,i</sub>w<sub>i</sub>a<sub>out,i</sub>w<sub>i</sub> / (‖a<sub>in</sub>⊙w‖ ‖a<sub>out</sub>⊙w‖),
I(x) = Σ<sub>i</sub> β<sub>i</sub> · unit(smooth(∂a<sub>i</sub>/∂x)), so that ‖I‖ ≤ s, the pair's similarity (eq. 2). Only the k features
carrying the β mass are backpropagated; the dropped mass bounds the map's error. The ring marks the readout location
(one feature-map pixel).${gate}${meanMass === null ? "" : ` Mean share of map mass on the pictured object or body (its silhouette): ${(100 * meanMass).toFixed(0)} %${meanArea === null ? "" : `, where the silhouettes cover ${(100 * meanArea).toFixed(0)} % of the images`}${meanNear === null ? "" : `; ${(100 * meanNear).toFixed(0)} % lies within ${halo} px of them (twice the maps' smoothing σ)`}.`}</p>
${data.sharedFeatureScale ? colourBar(data.sharedFeatureScale) : ""}
<div class="panels sf-grid">${data.sharedFeatures.map((f) => panel(f, topS, excluded.has(f.channelId))).join("")}</div>${withoutPanel(data)}</section>`;
}
