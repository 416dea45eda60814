// The report's rig QA (analysis/report/rig-qa.ts): photodiode − display onsets, lit durations, fixation breaks and
// the eye per presentation, from hand-made trials whose numbers are known; the section says what is missing.
import { describe, expect, it } from "vitest";
import { distribution, type QaTrial, rigQa, rigQaSection } from "../../analysis/report/rig-qa.ts";
import type { ReportData } from "../../analysis/report/types.ts";

const shown = (i: number, pd?: number, eye?: QaTrial["eye"]): QaTrial => ({
  phase: 1,
  status: "shown",
  onsetMs: 1000 * i,
  offsetMs: 1000 * i + 200,
  ...(pd === undefined
    ? {}
    : { pdOnsetMs: 1000 * i + pd, pdOffsetMs: 1000 * i + pd + 200 + (i === 3 ? 17 : 0) }),
  ...(eye ? { eye } : {}),
});

describe("rig QA", () => {
  it("summarizes onset differences, durations, breaks and the eye", () => {
    const trials: QaTrial[] = [
      shown(1, 8, { n: 10, meanXDeg: 0.3, meanYDeg: 0.4, sdDeg: 0.2 }),
      shown(2, 9, { n: 10, meanXDeg: 0, meanYDeg: 0, sdDeg: 0.4 }),
      shown(3, 10),
      shown(4),
      { phase: 1, status: "voided", voidReason: "fixation break" },
      { phase: 1, status: "voided", voidReason: "display timeout" },
      { ...shown(5, 12), phase: 2 },
    ];
    const q = rigQa(trials, [
      { id: 1, createdAt: "2026-05-14T09:00:00Z", points: 9, rmsDeg: 0.21, maxDeg: 0.4 },
    ]);
    expect(q.onsetDelta).toEqual({ n: 4, median: 9.5, p5: 8, p95: 12, min: 8, max: 12 });
    expect(q.durationDelta).toMatchObject({ n: 4, median: 0, max: 17 }); // trial 3 lit one frame longer
    expect(q.shownWithoutPhotodiode).toBe(1);
    expect(q.fixation).toEqual([
      { phase: 1, shown: 4, breaks: 1 },
      { phase: 2, shown: 1, breaks: 0 },
    ]);
    expect(q.eyeSpreadDeg).toMatchObject({ n: 2, median: 0.30000000000000004 });
    expect(q.eyeOffsetDeg).toMatchObject({ n: 2, min: 0, max: 0.5 });
    const html = rigQaSection({ rig: q } as ReportData);
    expect(html).toContain("photodiode − display onset</td><td>4</td><td>9.5 ms</td>");
    expect(html).toContain("<td>0.21°</td>");
    expect(html).not.toContain('class="muted"');
  });

  it("says what is missing on a day with a protocol version 1 box", () => {
    const q = rigQa([shown(1), shown(2)], []);
    expect(q.onsetDelta).toBeNull();
    const html = rigQaSection({ rig: q } as ReportData);
    expect(html).toContain("No photodiode onsets were measured");
    expect(html).toContain("No eye samples were stored");
    expect(html).toContain("No eye calibration was made");
    expect(distribution([])).toBeNull();
  });

  it("per phase: the display's durations and dropped frames, the photodiode's onsets, voids and re-shows", () => {
    const t = (trialId: number, phase: 1 | 2, stimulusId: string, o: Partial<QaTrial> = {}): QaTrial => ({
      trialId,
      phase,
      block: 0,
      stimulusId,
      status: "shown",
      onsetMs: 1000 * trialId,
      offsetMs: 1000 * trialId + 200,
      droppedFrames: 0,
      ...o,
    });
    const q = rigQa(
      [
        t(1, 1, "a", {
          status: "voided",
          voidReason: "fixation break",
          onsetMs: undefined,
          offsetMs: undefined,
        }),
        t(2, 1, "b", { pdOnsetMs: 2008 }),
        t(3, 1, "a", { offsetMs: 3217, droppedFrames: 1, pdOnsetMs: 3010 }), // a, re-shown in its block
        t(4, 1, "c", { status: "voided", voidReason: "fixation break" }), // c never shown again
        t(5, 1, "c", { block: 1 }), // … only in the next block
        t(6, 2, "d", { status: "voided", voidReason: "display timeout" }),
        t(7, 2, "d", { offsetMs: undefined }),
      ],
      [],
      200,
    );
    expect(q.stimulusMs).toBe(200);
    expect(q.timing).toEqual([
      {
        phase: 1,
        shown: 3,
        withoutTiming: 0,
        displayMs: { n: 3, median: 200, p5: 200, p95: 217, min: 200, max: 217 },
        droppedFrames: 1,
        withDrops: 1,
        onsetDelta: { n: 2, median: 9, p5: 8, p95: 10, min: 8, max: 10 },
      },
      {
        phase: 2,
        shown: 1,
        withoutTiming: 1,
        displayMs: null,
        droppedFrames: 0,
        withDrops: 0,
        onsetDelta: null,
      },
    ]);
    expect(q.voids).toEqual([
      { phase: 1, voided: 2, byReason: { "fixation break": 2 }, reshown: 1, notReshown: 1 },
      { phase: 2, voided: 1, byReason: { "display timeout": 1 }, reshown: 1, notReshown: 0 },
    ]);
    const html = rigQaSection({ rig: q } as ReportData);
    expect(html).toContain("<td>phase 1</td><td>3</td><td>200 ms");
    expect(html).toContain('<span class="fail-text">1</span> in 1');
    expect(html).toContain("the protocol asks for 200 ms");
    expect(html).toContain("<td>phase 1</td><td>2</td><td>fixation break: 2</td><td>1</td>");
  });
});
