// The report's rig QA: how the photodiode's measured onsets compare with the display's reported ones, the display's
// own timing per phase (durations, dropped frames), how well the subject fixated (breaks, the eye's spread and
// offset during presentations), what was voided and whether it was shown again, and the eye calibrations used —
// computed from stored trials, and rendered as one section. Absent numbers say why.
import { esc, num, table } from "./html.ts";
import type { Distribution, ReportData, ReportPhaseTiming, ReportPhaseVoids, ReportRigQa } from "./types.ts";

export type { Distribution, ReportRigQa };

/** The per-trial fields the QA reads (a subset of the stored trial). */
export interface QaTrial {
  phase: 1 | 2 | 3;
  status: "pending" | "shown" | "voided";
  onsetMs?: number;
  offsetMs?: number;
  pdOnsetMs?: number;
  pdOffsetMs?: number;
  eye?: { n: number; meanXDeg: number; meanYDeg: number; sdDeg: number };
  voidReason?: string;
  /** Frames the display reported dropped during the presentation. */
  droppedFrames?: number;
  /** Which presentation of which image in which block (to tell whether a voided image was shown again). */
  trialId?: number;
  block?: number;
  stimulusId?: string;
}

/** Nearest-rank quantile of sorted values. */
function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function distribution(values: number[]): Distribution | null {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return {
    n: v.length,
    median: v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2,
    p5: quantile(v, 0.05),
    p95: quantile(v, 0.95),
    min: v[0],
    max: v[v.length - 1],
  };
}

const onsetDeltas = (trials: QaTrial[]) =>
  trials
    .filter((t) => t.status === "shown" && t.onsetMs !== undefined && t.pdOnsetMs !== undefined)
    .map((t) => t.pdOnsetMs! - t.onsetMs!);

function timing(trials: QaTrial[], phase: 1 | 2 | 3): ReportPhaseTiming {
  const shown = trials.filter((t) => t.phase === phase && t.status === "shown");
  const timed = shown.filter((t) => t.onsetMs !== undefined && t.offsetMs !== undefined);
  return {
    phase,
    shown: shown.length,
    withoutTiming: shown.length - timed.length,
    displayMs: distribution(timed.map((t) => t.offsetMs! - t.onsetMs!)),
    droppedFrames: shown.reduce((n, t) => n + (t.droppedFrames ?? 0), 0),
    withDrops: shown.filter((t) => (t.droppedFrames ?? 0) > 0).length,
    onsetDelta: distribution(onsetDeltas(shown)),
  };
}

/** A voided presentation counts as re-shown when its image was shown later in the same phase and block. */
function voids(trials: QaTrial[], phase: 1 | 2 | 3): ReportPhaseVoids {
  const mine = trials.filter((t) => t.phase === phase);
  const voided = mine.filter((t) => t.status === "voided");
  const byReason: Record<string, number> = {};
  for (const t of voided) byReason[t.voidReason ?? ""] = (byReason[t.voidReason ?? ""] ?? 0) + 1;
  const key = (t: QaTrial) => `${t.block}\u0000${t.stimulusId}`;
  const lastShown = new Map<string, number>();
  for (const t of mine)
    if (t.status === "shown" && t.trialId !== undefined)
      lastShown.set(key(t), Math.max(lastShown.get(key(t)) ?? -Infinity, t.trialId));
  // Presentations stored without their id, block or image (none the store writes) are counted as neither.
  const known = voided.filter((t) => t.trialId !== undefined && t.block !== undefined && t.stimulusId);
  const reshown = known.filter((t) => (lastShown.get(key(t)) ?? -Infinity) > t.trialId!).length;
  return { phase, voided: voided.length, byReason, reshown, notReshown: known.length - reshown };
}

export function rigQa(
  trials: QaTrial[],
  calibrations: ReportRigQa["calibrations"],
  stimulusMs: number | null = null,
  simulationTimeScale: number | null = null,
): ReportRigQa {
  const phases = ([1, 2, 3] as const).filter((p) => trials.some((t) => t.phase === p));
  const shown = trials.filter((t) => t.status === "shown");
  const timed = shown.filter((t) => t.onsetMs !== undefined && t.pdOnsetMs !== undefined);
  const both = timed.filter((t) => t.offsetMs !== undefined && t.pdOffsetMs !== undefined);
  const withEye = shown.filter((t) => t.eye && t.eye.n > 0);
  return {
    onsetDelta: distribution(onsetDeltas(timed)),
    durationDelta: distribution(both.map((t) => t.pdOffsetMs! - t.pdOnsetMs! - (t.offsetMs! - t.onsetMs!))),
    shownWithoutPhotodiode: shown.length - timed.length,
    fixation: ([1, 2, 3] as const).flatMap((phase) => {
      const mine = trials.filter((t) => t.phase === phase);
      if (mine.length === 0) return [];
      return [
        {
          phase,
          shown: mine.filter((t) => t.status === "shown").length,
          breaks: mine.filter((t) => t.status === "voided" && t.voidReason === "fixation break").length,
        },
      ];
    }),
    eyeSpreadDeg: distribution(withEye.map((t) => t.eye!.sdDeg)),
    eyeOffsetDeg: distribution(withEye.map((t) => Math.hypot(t.eye!.meanXDeg, t.eye!.meanYDeg))),
    calibrations,
    stimulusMs,
    simulationTimeScale,
    timing: phases.map((p) => timing(trials, p)),
    voids: phases.map((p) => voids(trials, p)),
  };
}

function distRow(label: string, d: Distribution | null, unit: string, digits = 1): string[] {
  if (!d) return [esc(label), "n/a", "", "", "", ""];
  return [
    esc(label),
    String(d.n),
    `${num(d.median, digits)} ${unit}`,
    `${num(d.p5, digits)} … ${num(d.p95, digits)} ${unit}`,
    `${num(d.min, digits)} … ${num(d.max, digits)} ${unit}`,
  ];
}

export function rigQaSection(data: ReportData): string {
  const q = data.rig;
  const head = '<section id="rig-qa"><h2>Rig QA: timing, fixation and voided presentations</h2>';
  if (!q)
    return `${head}<p class="muted">No rig QA: the report was built without trial timing data.</p></section>`;
  const timing = q.onsetDelta
    ? table(
        ["", "presentations", "median", "5 … 95 %", "range"],
        [
          distRow("photodiode − display onset", q.onsetDelta, "ms"),
          distRow("photodiode − display duration", q.durationDelta, "ms"),
        ],
      ) +
      `<p>The photodiode's onset is measured by the rig box on its own clock and mapped onto the daemon's through PING/PONG; the display's onset is the frame the page reported. ${q.shownWithoutPhotodiode} shown presentation(s) have no photodiode onset.</p>`
    : '<p class="muted">No photodiode onsets were measured: the rig box speaks protocol version 1, or its photodiode input never went on (check the photodiode over the display\'s bottom-left patch and the thresholds, rig.photodiode).</p>';
  const fixation = table(
    ["phase", "shown", "fixation breaks", "breaks per presentation started"],
    q.fixation.map((f) => [
      `phase ${f.phase}`,
      String(f.shown),
      String(f.breaks),
      f.shown + f.breaks ? num(f.breaks / (f.shown + f.breaks), 3) : "n/a",
    ]),
  );
  const eye = q.eyeSpreadDeg
    ? table(
        ["", "presentations", "median", "5 … 95 %", "range"],
        [
          distRow("eye spread during a presentation", q.eyeSpreadDeg, "°", 2),
          distRow("eye mean − window centre", q.eyeOffsetDeg, "°", 2),
        ],
      )
    : '<p class="muted">No eye samples were stored with the presentations (rig box version 1, or its EYE stream off: rig.eyeStreamMs).</p>';
  const cals = q.calibrations.length
    ? table(
        ["calibration", "made", "targets", "residual rms", "residual max"],
        q.calibrations.map((c) => [
          String(c.id),
          esc(c.createdAt),
          String(c.points),
          `${num(c.rmsDeg, 2)}°`,
          `${num(c.maxDeg, 2)}°`,
        ]),
      )
    : '<p class="muted">No eye calibration was made in this session: the box used its default map (0..5 V = −10..+10°).</p>';
  return `${head}<h3>Stimulus timing</h3>${phaseTimingTable(q)}${timing}<h3>Fixation</h3>${fixation}${eye}${voidsTable(q)}<h3>Eye calibrations</h3>${cals}</section>`;
}

const spread = (d: Distribution | null, unit: string, digits = 1) =>
  d
    ? `${num(d.median, digits)} ${unit} <span class="range">(${num(d.p5, digits)} … ${num(d.p95, digits)})</span>`
    : "n/a";

/** Per phase: the display's reported durations and dropped frames, and the photodiode's onset against it. */
function phaseTimingTable(q: ReportRigQa): string {
  const rows = (q.timing ?? []).map((t) => [
    `phase ${t.phase}`,
    String(t.shown),
    spread(t.displayMs, "ms") +
      (t.withoutTiming ? ` <span class="range">(${t.withoutTiming} without timing)</span>` : ""),
    t.droppedFrames ? `<span class="fail-text">${t.droppedFrames}</span> in ${t.withDrops}` : "0",
    t.onsetDelta
      ? `${spread(t.onsetDelta, "ms")} <span class="range">n = ${t.onsetDelta.n}</span>`
      : "not measured",
  ]);
  if (rows.length === 0) return "";
  const scale = q.simulationTimeScale;
  const expected = q.stimulusMs
    ? `the protocol asks for ${esc(q.stimulusMs)} ms` +
      (scale && scale !== 1
        ? ` (a simulated day, as \`npm start\` runs it, scales every duration by the protocol's simulation.timeScale ${esc(scale)}: ${esc(num(q.stimulusMs * scale, 1))} ms, at least one display frame)`
        : "")
    : "no protocol duration known";
  return (
    table(
      [
        "phase",
        "shown",
        "display offset − onset: median (5 … 95 %)",
        "dropped frames (in presentations)",
        "photodiode − display onset",
      ],
      rows,
      "timing",
    ) +
    `<p>Display times are the frames the display page reported (its clock mapped onto the daemon's); ${expected}.</p>`
  );
}

/** Per phase: voided presentations by reason, and how many of their images were shown later in the same block. */
function voidsTable(q: ReportRigQa): string {
  const rows = (q.voids ?? []).map((v) => [
    `phase ${v.phase}`,
    String(v.voided),
    esc(
      Object.entries(v.byReason)
        .map(([r, n]) => `${r || "no reason"}: ${n}`)
        .join("; ") || "—",
    ),
    String(v.reshown),
    v.notReshown ? `<span class="fail-text">${v.notReshown}</span>` : "0",
  ]);
  if (rows.length === 0) return "";
  return `<h3>Voided and re-shown presentations</h3>${table(
    ["phase", "voided", "by reason", "re-shown later in the block", "not re-shown"],
    rows,
    "voids",
  )}<p>A voided presentation's image goes back into its block and is shown again; one that never was (the day ended, or its block was cut short) has fewer repetitions.</p>`;
}
