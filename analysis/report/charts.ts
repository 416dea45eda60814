// The report's figures: Vega-Lite specs compiled to Vega and rendered to SVG strings on the server (no canvas,
// no browser, no external requests). Each builder takes plain rows and returns a spec; renderChart draws it.
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { ReportError } from "./errors.ts";

const base = {
  $schema: "https://vega.github.io/schema/vega-lite/v6.json",
  background: "white",
  config: {
    font: "Helvetica, Arial, sans-serif",
    axis: { labelFontSize: 11, titleFontSize: 12 },
    legend: { labelFontSize: 11, titleFontSize: 12 },
    view: { stroke: "#ddd" },
  },
} as const;

/** Compile a Vega-Lite spec and render it headless to an SVG string. */
export async function renderChart(spec: TopLevelSpec): Promise<string> {
  let view: vega.View | undefined;
  try {
    view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
    const svg = await view.toSVG();
    // vega's SVG renderer stringifies its namespace list into one class attribute; drop that noise.
    return svg.replace(
      / \[ 'http:\/\/www\.w3\.org\/2000\/svg', 'http:\/\/www\.w3\.org\/1999\/xlink' \]/g,
      "",
    );
  } catch (e) {
    throw new ReportError("EPHYS_REPORT_RENDER", `figure could not be rendered: ${(e as Error).message}`);
  } finally {
    view?.finalize();
  }
}

export interface TrialRow {
  phase: string;
  status: "shown" | "voided" | "pending";
  count: number;
}

/** Shown / voided / pending presentations per phase (stacked bars). */
export function trialsSpec(rows: TrialRow[]): TopLevelSpec {
  return {
    ...base,
    title: "Presentations per phase",
    width: 320,
    height: 70 + 30 * new Set(rows.map((r) => r.phase)).size,
    data: { values: rows },
    mark: { type: "bar" },
    encoding: {
      y: { field: "phase", type: "nominal", title: null },
      x: { field: "count", type: "quantitative", title: "presentations", stack: "zero" },
      color: {
        field: "status",
        type: "nominal",
        scale: { domain: ["shown", "voided", "pending"], range: ["#4c78a8", "#e45756", "#bab0ac"] },
        title: "status",
      },
      order: { field: "status", sort: "descending" },
      tooltip: [{ field: "phase" }, { field: "status" }, { field: "count" }],
    },
  } as TopLevelSpec;
}

export interface CorrelationRow {
  channel: string;
  set: "held-out bodies" | "objects";
  r: number;
  critical: number | null;
  significant: boolean;
}

/**
 * Fig. 3a: per channel, the correlation of predicted and recorded responses for held-out bodies and for objects
 * (bars), with the critical r at p < 0.05 for that n (black ticks; the significance line of the paper).
 */
export function correlationSpec(rows: CorrelationRow[], channels: string[]): TopLevelSpec {
  const sets = ["held-out bodies", "objects"];
  return {
    ...base,
    title: {
      text: "Model generalization: predicted vs recorded",
      subtitle: "ticks: critical r (p < 0.05, two-sided) for each n",
    },
    width: Math.max(260, 46 * channels.length),
    height: 220,
    data: { values: rows },
    encoding: {
      x: { field: "channel", type: "nominal", sort: channels, title: "channel", axis: { labelAngle: -40 } },
      xOffset: { field: "set", type: "nominal", sort: sets },
    },
    layer: [
      {
        mark: { type: "bar" },
        encoding: {
          y: { field: "r", type: "quantitative", title: "Pearson r", scale: { domain: [-1, 1] } },
          color: {
            field: "set",
            type: "nominal",
            sort: sets,
            scale: { domain: sets, range: ["#4c78a8", "#f58518"] },
            title: null,
          },
          opacity: { condition: { test: "datum.significant", value: 1 }, value: 0.35 },
          tooltip: [
            { field: "channel" },
            { field: "set" },
            { field: "r", format: ".3f" },
            { field: "critical", format: ".3f" },
          ],
        },
      },
      {
        transform: [{ filter: "datum.critical !== null" }],
        mark: { type: "tick", color: "black", thickness: 2 },
        encoding: { y: { field: "critical", type: "quantitative" } },
      },
    ],
  } as TopLevelSpec;
}

export interface PredictionRow {
  channel: string;
  stimulus: string;
  predicted: number;
  recorded: number;
}

/** Predicted vs recorded phase-2 responses to objects, one small panel per channel. */
export function predictionSpec(rows: PredictionRow[], channels: string[]): TopLevelSpec {
  return {
    ...base,
    title: "Objects: model prediction vs phase-2 recording",
    data: { values: rows },
    facet: { field: "channel", type: "nominal", sort: channels, title: null },
    columns: 4,
    spec: {
      width: 140,
      height: 120,
      mark: { type: "point", filled: true, size: 40, color: "#f58518" },
      encoding: {
        x: {
          field: "predicted",
          type: "quantitative",
          title: "predicted (spikes/s)",
          scale: { zero: false },
        },
        y: { field: "recorded", type: "quantitative", title: "recorded (spikes/s)", scale: { zero: false } },
        tooltip: [
          { field: "stimulus" },
          { field: "predicted", format: ".2f" },
          { field: "recorded", format: ".2f" },
        ],
      },
    },
    resolve: { scale: { x: "independent", y: "independent" } },
  } as TopLevelSpec;
}

export interface LossRow {
  channel: string;
  epoch: number;
  loss: number;
}

/** Validation loss per epoch for each channel's readout (early stopping keeps the best epoch). */
export function lossSpec(rows: LossRow[]): TopLevelSpec {
  return {
    ...base,
    title: "Readout fit: validation loss",
    width: 420,
    height: 200,
    data: { values: rows },
    mark: { type: "line", strokeWidth: 1.5 },
    encoding: {
      x: { field: "epoch", type: "quantitative", title: "epoch" },
      y: { field: "loss", type: "quantitative", title: "validation loss", scale: { type: "log" } },
      color: { field: "channel", type: "nominal", title: "channel" },
    },
  } as TopLevelSpec;
}

export interface ResponseRow {
  channel: string;
  kind: "visualized object" | "mean object" | "mean body";
  rate: number;
  stimulus: string;
}

/** Fig. 3b: recorded responses to the visualized objects against the mean object and mean body responses. */
export function responsesSpec(rows: ResponseRow[], channels: string[]): TopLevelSpec {
  const kinds = ["mean body", "mean object", "visualized object"];
  return {
    ...base,
    title: { text: "Responses to the visualized objects", subtitle: "phase-2 mean net rates" },
    width: Math.max(260, 46 * channels.length),
    height: 220,
    data: { values: rows },
    mark: { type: "point", filled: true, size: 70 },
    encoding: {
      x: { field: "channel", type: "nominal", sort: channels, title: "channel", axis: { labelAngle: -40 } },
      y: { field: "rate", type: "quantitative", title: "net rate (spikes/s)" },
      color: {
        field: "kind",
        type: "nominal",
        sort: kinds,
        scale: { domain: kinds, range: ["#4c78a8", "#9d755d", "#f58518"] },
        title: null,
      },
      shape: {
        field: "kind",
        type: "nominal",
        sort: kinds,
        scale: { domain: kinds, range: ["square", "triangle-up", "circle"] },
        title: null,
      },
      tooltip: [
        { field: "channel" },
        { field: "kind" },
        { field: "stimulus" },
        { field: "rate", format: ".2f" },
      ],
    },
  } as TopLevelSpec;
}
