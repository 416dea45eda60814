// The report's sections, each a function of the ReportData (and pre-rendered figures) returning HTML. A section
// whose data are absent says so and why (which step produces them and how far the day got).
import { median, pearson } from "../stats/index.ts";
import { criticalR } from "./critical-r.ts";
import { endedHow, FINAL, lastStage, whyMissing } from "./day-progress.ts";
import { detailsText, dl, esc, img, num, table } from "./html.ts";
import type { ReportData } from "./types.ts";

// How far the day got (day-progress.ts); re-exported for the sections that say what is missing.
export { endedHow, lastStage, whyMissing };

const missing = (text: string) => `<p class="missing">${esc(text)}</p>`;

const figure = (svg: string, name: string, caption: string) =>
  `<figure class="chart" data-figure="${esc(name)}">${svg}<figcaption>${caption}</figcaption></figure>`;

export type Figures = Partial<
  Record<"trials" | "correlation" | "predictions" | "loss" | "responses", string>
>;

/** CSS class of a state: the final states by name; "reporting" (every step ran) as done; others as running. */
const stateClass = (state: string) => (FINAL.has(state) ? state : state === "reporting" ? "done" : "running");

function statusBanner(data: ReportData): string {
  const s = data.session;
  const cls = stateClass(s.state);
  const how = endedHow(data);
  const text = how
    ? `This session ${how}.`
    : s.state === "reporting"
      ? "Every step of the day ran; this report is its last step."
      : "The day ran to the end.";
  return `<div class="banner ${cls}" id="status-banner"><span class="status ${cls}">${esc(s.state)}</span> ${esc(text)}</div>`;
}

/** Where the session recorded from, as given to `serve` (only what was given). */
function recordingSite(s: ReportData["session"]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (s.subject) out.push(["Subject", s.subject]);
  if (s.rig) out.push(["Rig", s.rig]);
  if (s.probe) out.push(["Probe", s.probe]);
  if (s.depthUm !== null && s.depthUm !== undefined) out.push(["Depth", `${s.depthUm} µm`]);
  if (s.region) out.push(["Region", s.region]);
  return out;
}

export function header(data: ReportData): string {
  const s = data.session;
  return `<header><h1>Recording session ${esc(s.id)}</h1>
<div class="muted">protocol <b>${esc(s.protocolName)}</b>${recordingSite(s)
    .map(([k, v]) => ` · ${esc(k.toLowerCase())} ${esc(v)}`)
    .join("")} · report generated ${esc(data.generatedAt)}</div>
${statusBanner(data)}</header>`;
}

/** The weights that ran: file, kind and sha256 of each (a warning when a resumed day changed them). */
function weightsRows(s: ReportData["session"]): Array<[string, string]> {
  const ran = s.weights ?? [];
  if (ran.length === 0) {
    return [
      [
        "Weights sha256",
        s.weightsSha256
          ? `<code>${esc(s.weightsSha256)}</code>`
          : '<span class="muted">not recorded for this session</span>',
      ],
    ];
  }
  const kind = (k: string | null) =>
    k ? `<b>${esc(k)}</b>` : '<span class="muted">kind not recorded</span>';
  const rows = ran.flatMap((w, i): Array<[string, string]> => {
    const n = ran.length > 1 ? ` ${i + 1}` : "";
    return [
      [`Weights${n}`, `${kind(w.kind)} · <code>${esc(w.source)}</code>`],
      [`Weights${n} sha256`, `<code>${esc(w.sha256)}</code>`],
    ];
  });
  if (ran.length > 1) {
    rows.push([
      "Weights changed",
      `<span class="fail-text">this session ran with ${ran.length} different weights (a day resumed with another config?)</span>`,
    ]);
  }
  return rows;
}

export function summarySection(data: ReportData, figs: Figures): string {
  const s = data.session;
  const b = s.backbone;
  const ran = s.weights ?? [];
  const rows: Array<[string, string]> = [
    ["Session", `<code>${esc(s.id)}</code>`],
    ["Protocol", esc(s.protocolName)],
    ["Protocol file", `<code>${esc(s.protocolPath)}</code>`],
    ["Protocol sha256", `<code>${esc(s.protocolSha256)}</code>`],
    ["Code version", `<code>${esc(s.codeVersion)}</code>`],
    [
      "Backbone",
      b
        ? esc(
            `${b.arch} (${b.variant}) at ${b.layer}, ${b.imageSize} px${ran.length > 0 ? "" : b.weightsPath ? `, weights ${b.weightsPath}` : ", embedded weights"}`,
          )
        : "not recorded",
    ],
    ...weightsRows(s),
    ["Seed", esc(s.seed)],
    ["Subject", esc(s.subject ?? "—")],
    ["Rig", esc(s.rig ?? "—")],
    ["Probe", esc(s.probe ?? "—")],
    ["Depth", s.depthUm === null || s.depthUm === undefined ? "—" : `${esc(s.depthUm)} µm`],
    ["Region", esc(s.region ?? "—")],
    ["Created", esc(s.createdAt)],
    ["Started", esc(s.startedAt ?? "—")],
    ["Ended", esc(s.endedAt ?? "— (not ended)")],
    ["Final state", `<span class="status ${stateClass(s.state)}">${esc(s.state)}</span>`],
  ];
  if (s.failedReason)
    rows.push([s.state === "aborted" ? "Abort reason" : "Failure reason", esc(s.failedReason)]);
  if (s.state === "aborted") rows.push(["Aborted by", esc(s.abortedBy ?? "not recorded")]);
  rows.push(["Channels", esc(data.channels.length)]);

  const trialRows = data.trials.map((t) => [
    `phase ${t.phase}`,
    `<span class="num">${t.shown}</span>`,
    `<span class="num">${t.voided}</span>`,
    `<span class="num">${t.pending}</span>`,
    `<span class="num">${t.withData}</span>`,
    esc(
      Object.entries(t.voidReasons)
        .map(([r, n]) => `${r || "no reason"}: ${n}`)
        .join("; ") || "—",
    ),
  ]);
  const trials =
    data.trials.length === 0
      ? missing(whyMissing(data, "presentations", "phase1"))
      : table(
          ["Phase", "Shown", "Voided", "Pending", "With data (all channels)", "Void reasons"],
          trialRows,
          "trials",
        );
  const phases = new Set(data.trials.map((t) => t.phase));
  const phase2Note =
    phases.has(1) && !phases.has(2) ? missing(whyMissing(data, "phase-2 presentations", "phase2")) : "";

  const software = table(
    ["Package", "Version"],
    Object.entries(s.software).map(([k, v]) => [`<code>${esc(k)}</code>`, esc(v)]),
  );
  const history = s.stateHistory.length
    ? table(
        ["Time", "State"],
        s.stateHistory.map((h) => [esc(h.at), esc(h.state)]),
        "history",
      )
    : '<p class="muted">No state changes logged.</p>';

  return `<section id="summary"><h2>Session summary and provenance</h2>
${dl(rows)}
<h3>Presentations</h3>${trials}${phase2Note}
${figs.trials ? figure(figs.trials, "trials", "Shown, voided (fixation break or restart) and pending presentations per phase.") : ""}
<h3>Protocol</h3>
<details id="protocol-text"><summary>Protocol file as stored with the session (${esc(s.protocolText.length)} characters, sha256 ${esc(s.protocolSha256.slice(0, 12))}…)</summary><pre>${esc(s.protocolText)}</pre></details>
<h3>Software</h3>${software}
<h3>State history</h3>${history}
</section>`;
}

const CRITERION: Record<string, string> = {
  stability: "r &gt; threshold",
  selectivity: "p &lt; α (two-sided, per stimulus), bodies higher",
  responsiveness: "rate ≥ threshold",
  "split-half": "r &gt; threshold",
  "kruskal-wallis": "p &lt; threshold",
};

/** What each check is, as the table names it, in the order of docs/checks.md. */
const CHECK_LABEL: Record<string, string> = {
  stability: "stability: test/retest r",
  selectivity: "selectivity: Mann-Whitney U",
  responsiveness: "responsiveness: largest mean net rate (spikes/s)",
  "split-half": "split-half reliability",
  "kruskal-wallis": "Kruskal-Wallis H across phase-1 bodies",
};

export function checksSection(data: ReportData): string {
  const head = `<section id="checks"><h2>Channel checks</h2>`;
  if (data.checks.length === 0 && data.decisions.length === 0)
    return `${head}${missing(whyMissing(data, "channel checks", "checking"))}</section>`;
  const decision = new Map(data.decisions.map((d) => [d.channelId, d]));
  const ids = [...new Set([...data.channels.map((c) => c.id), ...data.checks.map((c) => c.channelId)])];
  const kept = data.decisions.filter((d) => d.included);
  const excluded = data.decisions.filter((d) => !d.included);
  const summary = `<p id="checks-summary"><b>${kept.length}</b> of ${data.decisions.length} channels kept${
    excluded.length ? `; <b class="fail-text">${excluded.length} excluded</b>:` : "."
  }</p>${
    excluded.length
      ? `<ul class="excluded-list">${excluded.map((d) => `<li data-channel="${esc(d.channelId)}"><b>${esc(d.channelId)}</b>: ${esc(d.reason)}</li>`).join("")}</ul>`
      : ""
  }`;
  const body: string[] = [];
  for (const id of ids) {
    const order = Object.keys(CHECK_LABEL);
    const at = (name: string) => (order.includes(name) ? order.indexOf(name) : order.length);
    const mine = data.checks.filter((c) => c.channelId === id).sort((a, b) => at(a.name) - at(b.name));
    const d = decision.get(id);
    const cls = d && !d.included ? "excluded" : "";
    const badge = d
      ? `<span class="badge ${d.included ? "included" : "excluded"}">${d.included ? "included" : "✗ excluded"}</span><br><span class="reason">${esc(d.reason)}</span>`
      : '<span class="muted">no decision stored</span>';
    if (mine.length === 0) {
      body.push(
        `<tr class="${cls}" data-channel="${esc(id)}"><td>${esc(id)}</td><td colspan="6" class="muted">no check results stored for this channel</td><td>${badge}</td></tr>`,
      );
      continue;
    }
    mine.forEach((c, i) => {
      const first = i === 0;
      body.push(
        `<tr class="check-row ${cls}" data-channel="${esc(id)}" data-check="${esc(c.name)}" data-passed="${c.passed}">` +
          (first ? `<td rowspan="${mine.length}"><b>${esc(id)}</b></td>` : "") +
          `<td>${esc(CHECK_LABEL[c.name] ?? c.name)}</td><td class="num">${num(c.value)}</td><td class="num">${num(c.threshold)}</td><td>${CRITERION[c.name] ?? "threshold"}</td>` +
          `<td class="${c.passed ? "pass" : "fail"}">${c.passed ? "✓ pass" : "✗ fail"}</td><td class="details">${esc(detailsText(c.details))}</td>` +
          (first ? `<td rowspan="${mine.length}" class="decision">${badge}</td>` : "") +
          "</tr>",
      );
    });
  }
  const tableHtml = `<table class="checks"><thead><tr><th>Channel</th><th>Check</th><th>Value</th><th>Threshold</th><th>Criterion</th><th>Result</th><th>Numbers</th><th>Decision</th></tr></thead><tbody>${body.join("")}</tbody></table>`;
  return `${head}${summary}${tableHtml}</section>`;
}

interface ObjectCorrelation {
  r: number | null;
  p: number | null;
  n: number;
  critical: number | null;
  note: string;
}

/** Pearson r of predicted vs recorded responses to objects, and its critical value for that n. */
export function objectCorrelation(points: Array<{ predicted: number; recorded: number }>): ObjectCorrelation {
  const n = points.length;
  if (n < 3)
    return {
      r: null,
      p: null,
      n,
      critical: null,
      note: `${n} object${n === 1 ? "" : "s"}: too few for a correlation (needs 3)`,
    };
  const c = pearson(
    points.map((q) => q.predicted),
    points.map((q) => q.recorded),
  );
  if (c.constantInput)
    return { r: null, p: null, n, critical: criticalR(n), note: "constant predictions or recordings" };
  return { r: c.r, p: c.p, n, critical: criticalR(n), note: "" };
}

export function modelsSection(data: ReportData, figs: Figures): string {
  const head = `<section id="models"><h2>Model generalization</h2>`;
  if (data.models.length === 0) return `${head}${missing(whyMissing(data, "models", "fitting"))}</section>`;
  const excluded = new Set(data.decisions.filter((d) => !d.included).map((d) => d.channelId));
  const objects = new Map(data.objectPredictions.map((o) => [o.channelId, o]));
  const rows = data.models.map((m) => {
    const rc = m.nTest >= 3 ? criticalR(m.nTest) : null;
    const sig = m.testR !== null && rc !== null && m.testR > rc;
    const o = objects.get(m.channelId);
    const oc = o ? objectCorrelation(o.points) : null;
    const osig = oc?.r != null && oc.critical !== null && oc.r > oc.critical;
    return [
      `${esc(m.channelId)}${excluded.has(m.channelId) ? ' <span class="badge excluded">excluded</span>' : ""}`,
      `<span class="num">${num(m.testR)}</span>`,
      `<span class="num">${m.nTest}</span>`,
      `<span class="num">${num(rc)}</span>`,
      m.testR === null ? "n/a" : sig ? '<span class="pass">yes</span>' : "no",
      oc
        ? `<span class="num">${num(oc.r)}</span>${oc.note ? ` <span class="muted">(${esc(oc.note)})</span>` : ""}`
        : '<span class="muted">no phase-2 objects</span>',
      oc ? `<span class="num">${oc.n}</span>` : "—",
      oc ? `<span class="num">${num(oc.p)}</span>` : "—",
      oc ? `<span class="num">${num(oc.critical)}</span>` : "—",
      oc?.r == null ? "n/a" : osig ? '<span class="pass">yes</span>' : "no",
      `<span class="num">${m.bestEpoch ?? "n/a"}</span>`,
    ];
  });
  // The same median as the fit step's log line (analysis/stats median).
  const rs = data.models.map((m) => m.testR).filter((r): r is number => r !== null);
  const medianR = rs.length ? median(rs) : null;
  const sigCount = data.models.filter(
    (m) => m.testR !== null && m.nTest >= 3 && m.testR > criticalR(m.nTest),
  ).length;
  const sources = [...new Set(data.objectPredictions.map((o) => o.source))];
  const objectsNote =
    data.objectPredictions.length === 0
      ? missing(whyMissing(data, "phase-2 object recordings to compare with the models", "phase2"))
      : "";
  return `${head}
<p>Per channel, the Pearson correlation between the model's predicted responses and the recorded ones, for the held-out
bodies of phase 1 (never used in fitting) and for the objects recorded in phase 2, against the critical r at p &lt; 0.05
(two-sided) for that number of stimuli (Lappe et al. 2024, Fig. 3a). Held-out bodies: median r = ${num(medianR)} over ${rs.length} channels;
${sigCount} of ${data.models.length} channels significant.</p>
${table(["Channel", "Bodies r", "n", "critical r", "p &lt; 0.05", "Objects r", "n", "p", "critical r", "p &lt; 0.05", "Best epoch"], rows, "models")}
${objectsNote}
${figs.correlation ? figure(figs.correlation, "correlation", "Bars: r per channel (faded: not significant). Black ticks: critical r at p &lt; 0.05 for that n.") : ""}
${figs.predictions ? figure(figs.predictions, "predictions", `Each point an object shown in phase 2. Predictions: ${esc(sources.join("; "))}.`) : ""}
${figs.loss ? figure(figs.loss, "loss", "Validation loss per epoch; the readout of the best epoch is kept (early stopping).") : ""}
</section>`;
}

export function responsesSection(data: ReportData, figs: Figures): string {
  const head = `<section id="responses"><h2>Responses to the visualized objects</h2>`;
  const withData = data.responses.filter(
    (r) => r.visualized.length > 0 || r.meanObject !== null || r.meanBody !== null,
  );
  if (withData.length === 0)
    return `${head}${missing(whyMissing(data, "phase-2 responses", "phase2"))}</section>`;
  const rows = withData.map((r) => [
    esc(r.channelId),
    esc(r.visualized.map((v) => v.stimulusId).join(", ") || "—"),
    `<span class="num">${esc(r.visualized.map((v) => num(v.rate, 2)).join(", ") || "n/a")}</span>`,
    `<span class="num">${num(r.meanObject, 2)}</span> <span class="muted">(${r.nObjects})</span>`,
    `<span class="num">${num(r.meanBody, 2)}</span> <span class="muted">(${r.nBodies})</span>`,
  ]);
  return `${head}
<p>Phase-2 mean net rates (spikes/s) to each channel's visualized objects, against its mean response over all objects
and over all bodies shown in phase 2 (Lappe et al. 2024, Fig. 3b).</p>
${table(["Channel", "Visualized objects", "Rate", "Mean object (n)", "Mean body (n)"], rows, "responses")}
${figs.responses ? figure(figs.responses, "responses", "Circles: visualized objects; triangles: mean over objects; squares: mean over bodies.") : ""}
</section>`;
}

export function optionalSections(data: ReportData): string {
  return data.optionalAnalyses
    .map((a) => {
      const items = a.items.map((it) => {
        const meta = Object.entries(it.meta).map(([k, v]): [string, string] => [
          k,
          esc(typeof v === "number" ? num(v) : typeof v === "string" ? v : JSON.stringify(v)),
        ]);
        return `<div class="panel" data-channel="${esc(it.channelId ?? "")}"><h3>${esc(it.channelId ?? "all channels")}</h3>
${it.images.length ? `<div class="pair">${it.images.map((im, i) => `<figure>${img(im, `${a.kind} ${i + 1}`)}${im.caption ? `<figcaption>${esc(im.caption)}</figcaption>` : ""}</figure>`).join("")}</div>` : ""}
${meta.length ? dl(meta) : ""}${it.note ? `<p class="muted">${esc(it.note)}</p>` : ""}</div>`;
      });
      return `<section class="optional" id="optional-${esc(a.kind)}" data-kind="${esc(a.kind)}"><h2>${esc(a.title)}</h2><div class="panels">${items.join("")}</div></section>`;
    })
    .join("\n");
}

export function notesSection(data: ReportData): string {
  if (data.notes.length === 0) return "";
  return `<section id="notes"><h2>Notes</h2><ul>${data.notes.map((n) => `<li>${esc(n)}</li>`).join("")}</ul></section>`;
}
