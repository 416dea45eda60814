// The eye calibration procedure, MonkeyLogic-style: the display shows one target at a time (the centre first);
// the operator watches the eye trace on the dashboard and accepts the target once the subject looks at it (a
// reward follows, as in MonkeyLogic), or skips it; the eye inputs of the last ACCEPT_WINDOW_MS are averaged for
// that target. After the last target the affine map is fitted (analysis/eye), stored with the session and sent
// to the rig box, which decides fixation with it from then on.

import { EphysError } from "../../analysis/errors.ts";
import { type AffineFit, calibrationTargets, fitAffine, type TargetCount } from "../../analysis/eye/index.ts";
import type { CalibrationView } from "../wire/monitor.ts";

/** The eye inputs of this many ms before an accept are averaged. */
export const ACCEPT_WINDOW_MS = 300;
/** An accept needs at least this many EYE samples in that window. */
export const MIN_SAMPLES = 5;
/** Target size on the display, degrees. */
const TARGET_SIZE_DEG = 0.6;

export class CalibrationError extends EphysError<
  | "EPHYS_CALIBRATION_BUSY"
  | "EPHYS_CALIBRATION_NO_BOX"
  | "EPHYS_CALIBRATION_NO_DISPLAY"
  | "EPHYS_CALIBRATION_NO_EYE"
  | "EPHYS_CALIBRATION_IDLE"
  | "EPHYS_CALIBRATION_DEGENERATE"
  | "EPHYS_BAD_CALIBRATION_INPUT"
> {}

export interface CalibrationPorts {
  /** Draw a target (degrees), or remove it. Throws EPHYS_CALIBRATION_NO_DISPLAY without a display. */
  showTarget(target: { xDeg: number; yDeg: number; sizeDeg: number } | null): void;
  /** The eye inputs (mV) of the last `ms`. */
  recentEye(ms: number): Array<{ xMv: number; yMv: number }>;
  /** Rewards the subject; never rejects (a failure is the port's to report). */
  reward(): Promise<void>;
  /** Store the fit and send it to the box; resolves with the stored calibration's id. */
  apply(
    fit: AffineFit,
    points: Array<{ xDeg: number; yDeg: number; xMv: number; yMv: number; n: number }>,
  ): Promise<number>;
  /** Called with the view after every change. */
  changed(view: CalibrationView): void;
}

type Point = CalibrationView["points"][number] & { n?: number };

export class EyeCalibration {
  private points: Point[] = [];
  private current = -1;
  private count: TargetCount = 9;
  private spacingDeg = 5;
  private message = "";
  private fit: CalibrationView["fit"];

  constructor(
    private readonly ports: CalibrationPorts,
    lastFit: CalibrationView["fit"] = null,
  ) {
    this.fit = lastFit;
  }

  get active(): boolean {
    return this.current >= 0;
  }

  view(): CalibrationView {
    return {
      active: this.active,
      count: this.count,
      spacingDeg: this.spacingDeg,
      points: this.points.map(({ n: _n, ...p }) => p),
      fit: this.fit,
      message: this.message,
    };
  }

  /** Starts (or restarts) with `count` targets `spacingDeg` apart; shows the centre target. */
  start(count: number, spacingDeg: number): void {
    if (![5, 9, 13].includes(count))
      throw new CalibrationError(
        "EPHYS_BAD_CALIBRATION_INPUT",
        `calibration points: expected 5, 9 or 13, found ${String(count)}`,
      );
    const targets = calibrationTargets(count as TargetCount, spacingDeg);
    this.count = count as TargetCount;
    this.spacingDeg = spacingDeg;
    this.points = targets.map((t) => ({ ...t, status: "waiting" as const }));
    this.current = 0;
    this.message = "";
    this.showCurrent();
  }

  /** Accepts the current target with the eye inputs of the last ACCEPT_WINDOW_MS; moves on (or fits). */
  async accept(): Promise<void> {
    const p = this.needCurrent();
    const samples = this.ports.recentEye(ACCEPT_WINDOW_MS);
    if (samples.length < MIN_SAMPLES)
      throw new CalibrationError(
        "EPHYS_CALIBRATION_NO_EYE",
        `only ${samples.length} eye samples in the last ${ACCEPT_WINDOW_MS} ms (expected at least ${MIN_SAMPLES}): ` +
          "is the rig box streaming EYE lines (rig.eyeStreamMs) and the eye tracker's output wired to A0/A1?",
      );
    p.xMv = samples.reduce((a, s) => a + s.xMv, 0) / samples.length;
    p.yMv = samples.reduce((a, s) => a + s.yMv, 0) / samples.length;
    p.n = samples.length;
    p.status = "accepted";
    // The reward goes out while the next target is already up (the state never shows no current target).
    const reward = this.ports.reward();
    try {
      await this.next();
    } finally {
      await reward;
    }
  }

  /** Leaves the current target out and moves on (or fits). */
  async skip(): Promise<void> {
    this.needCurrent().status = "skipped";
    await this.next();
  }

  /** Stops without fitting; the box keeps its calibration. */
  cancel(): void {
    if (!this.active) return;
    this.current = -1;
    this.message = "cancelled; the previous calibration stays in use";
    this.ports.showTarget(null);
    this.ports.changed(this.view());
  }

  private needCurrent(): Point {
    if (!this.active)
      throw new CalibrationError("EPHYS_CALIBRATION_IDLE", "no calibration is running (start one first)");
    return this.points[this.current];
  }

  private showCurrent(): void {
    for (const [i, p] of this.points.entries())
      if (p.status === "current" && i !== this.current) p.status = "waiting";
    const p = this.points[this.current];
    p.status = "current";
    this.ports.showTarget({ xDeg: p.xDeg, yDeg: p.yDeg, sizeDeg: TARGET_SIZE_DEG });
    this.ports.changed(this.view());
  }

  private async next(): Promise<void> {
    const following = this.points.findIndex((p, i) => i > this.current && p.status === "waiting");
    if (following >= 0) {
      this.current = following;
      this.showCurrent();
      return;
    }
    this.current = -1;
    this.ports.showTarget(null);
    const accepted = this.points.filter((p) => p.status === "accepted");
    try {
      const fit = fitAffine(accepted.map((p) => ({ xMv: p.xMv!, yMv: p.yMv!, xDeg: p.xDeg, yDeg: p.yDeg })));
      const points = accepted.map((p) => ({ xDeg: p.xDeg, yDeg: p.yDeg, xMv: p.xMv!, yMv: p.yMv!, n: p.n! }));
      const id = await this.ports.apply(fit, points);
      this.fit = {
        id,
        map: fit.map,
        rmsDeg: fit.rmsDeg,
        maxDeg: fit.maxDeg,
        createdAt: new Date().toISOString(),
      };
      this.message = `calibration ${id}: ${accepted.length} targets, residuals rms ${fit.rmsDeg.toFixed(2)}°, max ${fit.maxDeg.toFixed(2)}°`;
    } catch (e) {
      this.message = `not fitted: ${(e as Error).message}`;
      this.ports.changed(this.view());
      throw e;
    }
    this.ports.changed(this.view());
  }
}
