// Small HTML helpers for the report: escaping, number formatting, embedded images and the inline stylesheet.
import type { ReportImage } from "./types.ts";

const ESC: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Text → HTML-safe text (also safe inside double- or single-quoted attributes). */
export function esc(value: unknown): string {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ESC[c]);
}

/** A number for a table: 3 decimals, scientific below 1e-3, "n/a" for null/NaN. */
export function num(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || Number.isNaN(v)) return "n/a";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "−∞";
  if (v !== 0 && Math.abs(v) < 10 ** -digits) return v.toExponential(2);
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(digits);
}

/** An image embedded as a data: URI (the report makes no external requests). */
export function dataUri(img: ReportImage): string {
  return `data:${img.mime};base64,${Buffer.from(img.bytes.buffer, img.bytes.byteOffset, img.bytes.byteLength).toString("base64")}`;
}

export function img(image: ReportImage, alt: string): string {
  return `<img src="${dataUri(image)}" alt="${esc(alt)}">`;
}

/** A table from a header row and body rows of already-escaped HTML cells. */
export function table(head: string[], rows: string[][], cls = ""): string {
  return `<table${cls ? ` class="${cls}"` : ""}><thead><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`)
    .join("")}</tbody></table>`;
}

/** Key/value rows (values already escaped). */
export function dl(rows: Array<[string, string]>): string {
  return `<table class="kv"><tbody>${rows.map(([k, v]) => `<tr><th scope="row">${esc(k)}</th><td>${v}</td></tr>`).join("")}</tbody></table>`;
}

/** A short rendering of a details object: key = value pairs, numbers formatted. */
export function detailsText(details: Record<string, unknown>): string {
  return Object.entries(details)
    .map(
      ([k, v]) => `${k} = ${typeof v === "number" ? num(v) : typeof v === "string" ? v : JSON.stringify(v)}`,
    )
    .join("; ");
}

export const STYLE = `
:root { --ok: #1a7f37; --bad: #c62828; --warn: #b26a00; --muted: #666; --line: #ddd; }
* { box-sizing: border-box; }
body { font: 14px/1.45 Helvetica, Arial, sans-serif; color: #222; margin: 0 auto; max-width: 1100px; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; border-bottom: 2px solid #4c78a8; padding-bottom: 3px; margin-top: 32px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
code, pre { font-family: "DejaVu Sans Mono", Menlo, monospace; font-size: 12px; }
pre { background: #f6f8fa; border: 1px solid var(--line); padding: 8px; overflow-x: auto; white-space: pre-wrap; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 3px 7px; text-align: left; vertical-align: top; }
thead th { background: #f0f3f7; }
table.kv th { background: #f7f7f7; font-weight: 600; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.status { display: inline-block; padding: 2px 10px; border-radius: 10px; color: white; font-weight: 600; }
.status.done { background: var(--ok); } .status.failed { background: var(--bad); }
.status.aborted { background: var(--warn); } .status.running { background: #777; }
.banner { padding: 8px 12px; border-left: 5px solid; margin: 10px 0; }
.banner.failed { border-color: var(--bad); background: #fdecea; } .banner.aborted { border-color: var(--warn); background: #fff4e0; }
.banner.running { border-color: #777; background: #f2f2f2; } .banner.done { border-color: var(--ok); background: #e9f6ec; }
.missing { color: #5a4500; background: #fff8e1; border: 1px dashed #e0b000; padding: 6px 10px; margin: 8px 0; }
tr.excluded td { background: #fdecea; }
td.fail { color: var(--bad); font-weight: 600; white-space: nowrap; } td.pass { color: var(--ok); font-weight: 600; white-space: nowrap; }
.pass { color: var(--ok); font-weight: 600; } .fail-text { color: var(--bad); }
table.checks td:nth-child(5) { white-space: nowrap; }
.badge { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 12px; font-weight: 600; color: white; }
.badge.included { background: var(--ok); } .badge.excluded { background: var(--bad); }
figure { margin: 12px 0; break-inside: avoid; page-break-inside: avoid; }
figure.chart svg { max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 12px; margin-top: 4px; }
.panels { display: flex; flex-wrap: wrap; gap: 16px; }
.panel { border: 1px solid var(--line); padding: 10px; break-inside: avoid; page-break-inside: avoid; max-width: 520px; }
.panel.excluded { border-color: var(--bad); }
.pair { display: flex; gap: 8px; } .pair figure { margin: 0; } .pair img { width: 220px; height: auto; border: 1px solid var(--line); }
.muted, .range { color: var(--muted); }
.thumbs { display: flex; flex-wrap: wrap; gap: 6px; }
.fragments { display: flex; flex-wrap: wrap; gap: 6px; } .causal-row { break-inside: avoid; page-break-inside: avoid; }
figure.fragment { margin: 0; width: 112px; font-size: 11px; } figure.fragment img { width: 112px; height: 112px; border: 1px solid var(--line); display: block; }
figure.thumb { margin: 0; width: 104px; font-size: 11px; line-height: 1.25; }
figure.thumb img { width: 80px; height: 80px; object-fit: contain; background: #808080; border: 1px solid var(--line); display: block; }
figure.thumb figcaption { margin-top: 2px; color: #333; font-size: 11px; overflow-wrap: anywhere; }
.no-thumb { display: flex; width: 80px; height: 80px; align-items: center; justify-content: center; background: #eee; color: var(--muted); border: 1px dashed #bbb; }
.rule-groups { display: flex; flex-wrap: wrap; gap: 8px; }
.rule-group { border: 1px solid var(--line); padding: 4px 6px 6px; }
.rule-label { font-size: 12px; font-weight: 600; margin-bottom: 4px; max-width: 300px; }
.selection-channel { break-inside: avoid; page-break-inside: avoid; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); padding-top: 8px; }
@page { size: A4; margin: 14mm; }
@media print { body { padding: 0; max-width: none; } h2, h3 { break-after: avoid; } }
`;
