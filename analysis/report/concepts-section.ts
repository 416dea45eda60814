// The report's concept-maps section (AlignedCut across the day's channels): the montage of images with their colour
// concept maps, the concepts with their colours and the channels they drive, and each channel's share of top nodes
// per concept. Empty when no "concepts" artifact was stored.
import { dl, esc, img, num, table } from "./html.ts";
import type { ReportData } from "./types.ts";

const swatch = (rgb: [number, number, number]) =>
  `<span class="swatch" style="display:inline-block;width:1em;height:1em;vertical-align:middle;background:rgb(${rgb.map((v) => Math.round(v)).join(",")})"></span>`;

export function conceptsSection(data: ReportData): string {
  const c = data.concepts;
  if (!c) return "";
  const settings = c.settings;
  const how = settings.exact
    ? "the exact normalized cut"
    : `the Nyström-like approximation (m = ${esc(settings.m)} farthest-point samples, K = ${esc(settings.knn)} neighbours)`;
  const concepts = table(
    ["concept", "colour", "share of nodes", "channels (dominant concept)", "images most in it"],
    c.concepts.map((k) => [
      esc(k.id),
      swatch(k.color),
      `${num(100 * k.fraction, 1)} %`,
      esc(k.channels.join(", ") || "–"),
      esc(k.topImages.join(", ")),
    ]),
  );
  const channels = table(
    ["channel", "dominant", ...c.concepts.map((k) => `${swatch(k.color)} ${esc(k.id)}`)],
    c.channelTable.map((ch) => [
      esc(ch.channelId),
      esc(ch.dominant),
      ...ch.distribution.map((p) => `${num(100 * p, 0)} %`),
    ]),
  );
  return `<section id="concepts"><h2>Concept maps</h2>
<p>Every pixel of every image (${esc(c.images)} images, ${esc(c.nodes)} nodes) was mapped into the space of the day's
${esc(c.channels)} channels by their fitted readouts (x = Wᵀf + b), and the nodes were cut by ${how}: the top
eigenvectors of D^-½ A D^-½ with A_ij = exp(−(1 − cos(x_i, x_j))/γ). Colours show the embedding reduced to 3-D
(${esc(settings.reduce)}); similar colours are similar concepts across images.</p>
${c.montage ? `<figure class="concepts">${img(c.montage, "images with their concept maps")}<figcaption>Each image with its concept map.</figcaption></figure>` : '<p class="missing">no montage image stored</p>'}
${dl([
  ["γ", num(Number(settings.gamma))],
  ["eigenvectors k", esc(settings.k)],
  ["eigenvalues", esc(c.eigenvalues.map((v) => num(v)).join(", "))],
])}
<h3>Concepts</h3>${concepts}
<h3>Channels by concept</h3><p>Share of each channel's top-driving nodes (by x_ij) in each concept.</p>${channels}
${c.note ? `<p class="muted">${esc(c.note)}</p>` : ""}</section>`;
}
