// The session report as a pure function: stored results (ReportData) in, one self-contained HTML page out — CSS
// inline, figures rendered to SVG on the server with Vega-Lite, images embedded as data: URIs, no external requests.

import { causalSection } from "./causal-section.ts";
import { channelSummarySection } from "./channel-table.ts";
import {
  type CorrelationRow,
  correlationSpec,
  type LossRow,
  lossSpec,
  type PredictionRow,
  predictionSpec,
  type ResponseRow,
  renderChart,
  responsesSpec,
  type TrialRow,
  trialsSpec,
} from "./charts.ts";
import { conceptsSection } from "./concepts-section.ts";
import { criticalR } from "./critical-r.ts";
import { ReportError } from "./errors.ts";
import { esc, STYLE } from "./html.ts";
import { psthSection, renderPsthFigures } from "./psth-section.ts";
import { rigQaSection } from "./rig-qa.ts";
import {
  checksSection,
  type Figures,
  header,
  modelsSection,
  notesSection,
  objectCorrelation,
  optionalSections,
  responsesSection,
  summarySection,
} from "./sections.ts";
import { renderRetestFigure, retestSection, selectionSection } from "./selection-section.ts";
import { sharedFeaturesSection } from "./shared-features-section.ts";
import { truthSection } from "./truth-section.ts";
import type { ReportData } from "./types.ts";

function validate(data: ReportData): void {
  const bad = (field: string, expected: string, found: unknown): never => {
    throw new ReportError(
      "EPHYS_BAD_REPORT_DATA",
      `report data: ${field}: expected ${expected}; found ${JSON.stringify(found)?.slice(0, 80)}`,
    );
  };
  if (typeof data !== "object" || data === null) bad("", "an object", data);
  if (typeof data.session?.id !== "string") bad("session.id", "a string", data.session?.id);
  if (typeof data.session.state !== "string") bad("session.state", "a string", data.session.state);
  if (typeof data.session.protocolText !== "string")
    bad("session.protocolText", "a string", data.session.protocolText);
  for (const key of [
    "trials",
    "channels",
    "checks",
    "decisions",
    "models",
    "objectPredictions",
    "responses",
    "sharedFeatures",
    "optionalAnalyses",
    "notes",
  ] as const)
    if (!Array.isArray(data[key])) bad(key, "an array", data[key]);
  data.models.forEach((m, i) => {
    if (m.testR !== null && !(Number.isFinite(m.testR) && Math.abs(m.testR) <= 1))
      bad(`models[${i}].testR`, "a correlation in [−1, 1] or null", m.testR);
    if (!(Number.isInteger(m.nTest) && m.nTest >= 0)) bad(`models[${i}].nTest`, "a count ≥ 0", m.nTest);
  });
  for (const [i, o] of data.objectPredictions.entries())
    for (const [j, q] of o.points.entries()) {
      if (!Number.isFinite(q.predicted))
        bad(`objectPredictions[${i}].points[${j}].predicted`, "a finite number", q.predicted);
      if (!Number.isFinite(q.recorded))
        bad(`objectPredictions[${i}].points[${j}].recorded`, "a finite number", q.recorded);
    }
}

/** The figures that have data, rendered in parallel. */
async function renderFigures(data: ReportData): Promise<Figures> {
  const channelOrder = data.channels.map((c) => c.id);
  const order = (ids: string[]) => [
    ...channelOrder.filter((c) => ids.includes(c)),
    ...ids.filter((c) => !channelOrder.includes(c)),
  ];
  const jobs: Array<Promise<[keyof Figures, string]>> = [];
  const add = (name: keyof Figures, spec: Parameters<typeof renderChart>[0]) =>
    jobs.push(renderChart(spec).then((svg) => [name, svg]));

  const trialRows: TrialRow[] = data.trials.flatMap((t) =>
    (["shown", "voided", "pending"] as const).map((status) => ({
      phase: `phase ${t.phase}`,
      status,
      count: t[status],
    })),
  );
  if (trialRows.some((r) => r.count > 0)) add("trials", trialsSpec(trialRows));

  const corr: CorrelationRow[] = [];
  for (const m of data.models) {
    if (m.testR === null) continue;
    const critical = m.nTest >= 3 ? criticalR(m.nTest) : null;
    corr.push({
      channel: m.channelId,
      set: "held-out bodies",
      r: m.testR,
      critical,
      significant: critical !== null && m.testR > critical,
    });
  }
  for (const o of data.objectPredictions) {
    const c = objectCorrelation(o.points);
    if (c.r === null) continue;
    corr.push({
      channel: o.channelId,
      set: "objects",
      r: c.r,
      critical: c.critical,
      significant: c.critical !== null && c.r > c.critical,
    });
  }
  if (corr.length) add("correlation", correlationSpec(corr, order([...new Set(corr.map((r) => r.channel))])));

  const preds: PredictionRow[] = data.objectPredictions.flatMap((o) =>
    o.points.map((q) => ({
      channel: o.channelId,
      stimulus: q.stimulusId,
      predicted: q.predicted,
      recorded: q.recorded,
    })),
  );
  if (preds.length)
    add("predictions", predictionSpec(preds, order([...new Set(preds.map((r) => r.channel))])));

  const loss: LossRow[] = data.models.flatMap((m) =>
    m.valLossCurve.flatMap((v, epoch) =>
      Number.isFinite(v) && v > 0 ? [{ channel: m.channelId, epoch, loss: v }] : [],
    ),
  );
  if (loss.length) add("loss", lossSpec(loss));

  const resp: ResponseRow[] = data.responses.flatMap((r) => [
    ...r.visualized.map((v) => ({
      channel: r.channelId,
      kind: "visualized object" as const,
      rate: v.rate,
      stimulus: v.stimulusId,
    })),
    ...(r.meanObject !== null
      ? [
          {
            channel: r.channelId,
            kind: "mean object" as const,
            rate: r.meanObject,
            stimulus: `${r.nObjects} objects`,
          },
        ]
      : []),
    ...(r.meanBody !== null
      ? [
          {
            channel: r.channelId,
            kind: "mean body" as const,
            rate: r.meanBody,
            stimulus: `${r.nBodies} bodies`,
          },
        ]
      : []),
  ]);
  if (resp.length) add("responses", responsesSpec(resp, order([...new Set(resp.map((r) => r.channel))])));

  return Object.fromEntries(await Promise.all(jobs)) as Figures;
}

/** One self-contained HTML page for a session (see ReportData for what it is built from). */
export async function buildReport(data: ReportData): Promise<string> {
  validate(data);
  const [figs, retestFig, psthFigs] = await Promise.all([
    renderFigures(data),
    renderRetestFigure(data),
    renderPsthFigures(data),
  ]);
  const s = data.session;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="generator" content="ephysloop report">
<title>ephysloop report — ${esc(s.protocolName)} — ${esc(s.id)}</title>
<style>${STYLE}</style></head>
<body data-session="${esc(s.id)}" data-state="${esc(s.state)}">
${header(data)}
<nav><a href="#summary">Summary</a> · <a href="#rig-qa">Rig QA</a> · <a href="#checks">Checks</a> · <a href="#channel-summary">Channels</a> · <a href="#models">Models</a> · <a href="#selection">Selection</a> · <a href="#retest">Retest</a> · <a href="#responses">Responses</a> · <a href="#psth">PSTHs</a> · <a href="#shared-features">Shared features</a>${data.causal ? ' · <a href="#causal">Causal test</a>' : ""}${data.concepts ? ' · <a href="#concepts">Concept maps</a>' : ""}${data.optionalAnalyses
    .map((a) => ` · <a href="#optional-${esc(a.kind)}">${esc(a.title)}</a>`)
    .join("")}${data.truth ? ' · <a href="#truth">Simulation truth</a>' : ""}</nav>
<main>
${summarySection(data, figs)}
${rigQaSection(data)}
${checksSection(data)}
${channelSummarySection(data)}
${modelsSection(data, figs)}
${selectionSection(data)}
${retestSection(data, retestFig)}
${responsesSection(data, figs)}
${psthSection(data, psthFigs)}
${sharedFeaturesSection(data)}
${causalSection(data)}
${conceptsSection(data)}
${optionalSections(data)}
${truthSection(data)}
${notesSection(data)}
</main>
<footer>ephysloop ${esc(s.codeVersion)} · session ${esc(s.id)} · generated ${esc(data.generatedAt)} · self-contained page: no external resources.</footer>
</body></html>
`;
}
