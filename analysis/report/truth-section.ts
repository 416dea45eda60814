// The report's appendix on a simulated day: each fitted model against the simulated neuron it should recover
// (analysis/simulation-truth.ts) — readout location error, weight cosine, and how many of the stimuli chosen for
// phase 2 an oracle that knows the neuron would also have chosen, against chance. Absent on a recorded day.
import { esc, num, table } from "./html.ts";
import type { ReportData } from "./types.ts";

export function truthSection(data: ReportData): string {
  const t = data.truth;
  if (!t) return "";
  const rules = [...new Set(t.channels.flatMap((c) => c.rules.map((r) => r.rule)))];
  const rows = t.channels.map((c) => [
    `${esc(c.channelId)}${c.selective ? "" : ' <span class="muted">(not selective)</span>'}${c.unstable ? ' <span class="muted">(unstable)</span>' : ""}`,
    c.trueLocation ? `(${num(c.trueLocation[0], 2)}, ${num(c.trueLocation[1], 2)})` : "n/a",
    c.fittedLocation ? `(${num(c.fittedLocation[0], 2)}, ${num(c.fittedLocation[1], 2)})` : "n/a",
    `<span class="num">${num(c.locationError, 3)}</span>`,
    `<span class="num">${num(c.weightCosine, 2)}</span>`,
    ...rules.map((rule) => {
      const r = c.rules.find((x) => x.rule === rule);
      return r ? `${r.hits}/${r.chosen}` : "—";
    }),
    `<span class="num">${c.selectionHits}/${c.selectionTotal}</span> <span class="muted">(chance ${num(c.chanceHits, 2)})</span>`,
  ]);
  const cell = (1 / 3).toFixed(2);
  return `<section id="truth"><h2>Appendix: the simulated neurons' truth</h2>
<p>This day ran on the virtual rig, whose neurons are known (${esc(t.kind === "backbone" ? "category-selective readouts of the backbone's features" : "thumbnail statistics without a readout")}).
Each fitted model against its neuron: the readout location error ‖μ<sub>fit</sub> − μ<sub>true</sub>‖ in the feature map's [−1, 1] grid (one
pixel step of a 7×7 map is 2/6 ≈ ${cell}), the cosine between fitted and true weights, and per selection rule how many of the
stimuli chosen for the channel are among those an oracle that knows the neuron would choose (the highest or lowest
true drive a·w, or the highest true similarity to the neuron's best body); chance is k²/N for k chosen of N.
Median location error ${num(t.medianLocationError, 3)}; median weight cosine ${num(t.medianWeightCosine, 2)};
selection ${t.selectionHits} of ${t.selectionTotal} (chance ${num(t.chanceHits, 1)}). The same numbers are in truth.csv beside this report.</p>
${table(["Channel", "true μ", "fitted μ", "location error", "weight cosine", ...rules.map(esc), "selection hits"], rows, "truth")}
</section>`;
}
