// A simulated subject and eye tracker for the rig box firmware in simavr (firmware-box.ts): the subject looks at
// the fixation point, or at the calibration target while one is shown, with a little jitter, and breaks fixation
// now and then (a Poisson process; it looks 6° away until it re-acquires); the tracker turns gaze (degrees) into
// the two analog voltages by its own map (`tracker`: mV = gain · deg + centre, with cross-talk), which the
// calibration has to learn. The photodiode follows the display's presentations (the headless display says when
// each will be on), as a photodiode taped over the page's patch would.
import { mulberry32, type Random } from "../../analysis/random.ts";
import { ADC, CYCLES_PER_MS, type FirmwareBox } from "./firmware-box.ts";

/** mV = [xx·x + xy·y + x0, yx·x + yy·y + y0] for gaze (x, y) in degrees. */
export interface TrackerMap {
  xx: number;
  xy: number;
  x0: number;
  yx: number;
  yy: number;
  y0: number;
}

export interface SimulatedEyeOptions {
  tracker?: TrackerMap;
  /** Fixation breaks per second while fixating (0: never). */
  breakRatePerS?: number;
  /** Mean time to re-acquire fixation after a break, ms (plus a fixed 50 ms). */
  reacquireMeanMs?: number;
  /** Gaze jitter, degrees (standard deviation per axis). */
  jitterDeg?: number;
  /** How often the gaze is updated, ms. */
  stepMs?: number;
  seed?: number;
}

/**
 * 100 mV per degree, a little cross-talk, and the tracker's centre well off the ADC's middle: through the box's
 * default map (4°/V about 2.5 V) the subject's gaze at the centre reads 4.5° away, so only a calibration lets it
 * hold a fixation window of a few degrees.
 */
export const DEFAULT_TRACKER: TrackerMap = { xx: 100, xy: 8, x0: 3600, yx: -6, yy: 110, y0: 2300 };

export class SimulatedEye {
  readonly tracker: TrackerMap;
  private target: { xDeg: number; yDeg: number } = { xDeg: 0, yDeg: 0 };
  private away: { xDeg: number; yDeg: number } | null = null;
  private readonly random: Random;
  private timer: NodeJS.Timeout | null = null;
  private breakTimer: NodeJS.Timeout | null = null;
  private clock: { cycle: number; at: number } | null = null;
  private clockSamples: Array<{ cycle: number; at: number; rtt: number }> = [];
  private clockTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly box: FirmwareBox,
    private readonly o: SimulatedEyeOptions = {},
  ) {
    this.tracker = o.tracker ?? DEFAULT_TRACKER;
    this.random = mulberry32(o.seed ?? 1);
  }

  /** The voltages the tracker puts out for a gaze. */
  voltages(xDeg: number, yDeg: number): { xMv: number; yMv: number } {
    const t = this.tracker;
    const clamp = (v: number) => Math.min(5000, Math.max(0, Math.round(v)));
    return { xMv: clamp(t.xx * xDeg + t.xy * yDeg + t.x0), yMv: clamp(t.yx * xDeg + t.yy * yDeg + t.y0) };
  }

  start(): void {
    if (this.timer) return;
    const step = () => this.update();
    step();
    this.timer = setInterval(step, this.o.stepMs ?? 10);
    this.scheduleBreak();
    void this.syncClock();
    // Often: the simulation's lag behind the wall clock changes when the machine is busy.
    this.clockTimer = setInterval(() => void this.syncClock(), 200);
  }

  stop(): void {
    for (const t of [this.timer, this.breakTimer]) if (t) clearTimeout(t);
    if (this.clockTimer) clearInterval(this.clockTimer);
    this.timer = this.breakTimer = this.clockTimer = null;
  }

  /** Look at a calibration target (degrees), or back at the fixation point (null). */
  lookAt(target: { xDeg: number; yDeg: number } | null): void {
    this.target = target ?? { xDeg: 0, yDeg: 0 };
    this.away = null;
    this.update();
  }

  /** The photodiode sees the display's patch lit from onset to offset (Date.now() ms). */
  photodiode(onsetLocalMs: number, offsetLocalMs: number): void {
    const on = this.cycleAt(onsetLocalMs);
    const off = this.cycleAt(offsetLocalMs);
    if (on === null || off === null) {
      // No clock pair yet: light it now and for the presentation's length.
      this.box.setAnalog(ADC.photodiode, 4000);
      setTimeout(() => this.box.setAnalog(ADC.photodiode, 0), Math.max(1, offsetLocalMs - onsetLocalMs));
      return;
    }
    this.box.setAnalogAt(on, ADC.photodiode, 4000);
    this.box.setAnalogAt(off, ADC.photodiode, 0);
  }

  private update(): void {
    const j = this.o.jitterDeg ?? 0.05;
    const g = this.away ?? this.target;
    const gauss = () => Math.sqrt(-2 * Math.log(1 - this.random())) * Math.cos(2 * Math.PI * this.random());
    const { xMv, yMv } = this.voltages(g.xDeg + j * gauss(), g.yDeg + j * gauss());
    this.box.setAnalog(ADC.eyeX, xMv);
    this.box.setAnalog(ADC.eyeY, yMv);
  }

  private scheduleBreak(): void {
    const rate = this.o.breakRatePerS ?? 0;
    if (rate <= 0) return;
    const wait = (-Math.log(1 - this.random()) / rate) * 1000;
    this.breakTimer = setTimeout(() => {
      const angle = 2 * Math.PI * this.random();
      this.away = {
        xDeg: this.target.xDeg + 6 * Math.cos(angle),
        yDeg: this.target.yDeg + 6 * Math.sin(angle),
      };
      this.update();
      const back = 50 - Math.log(1 - this.random()) * (this.o.reacquireMeanMs ?? 100);
      this.breakTimer = setTimeout(() => {
        this.away = null;
        this.update();
        this.scheduleBreak();
      }, back);
    }, wait);
  }

  /**
   * The harness runs at the wall clock's pace: one (cycle, Date.now()) pair maps times to cycles — the one with
   * the quickest answer of the last ten, since a busy event loop delays some answers by tens of ms.
   */
  private async syncClock(): Promise<void> {
    const before = performance.now();
    const cycle = await this.box.now();
    const rtt = performance.now() - before;
    this.clockSamples = [...this.clockSamples.slice(-9), { cycle, at: Date.now() - rtt / 2, rtt }];
    const best = this.clockSamples.reduce((a, b) => (b.rtt < a.rtt ? b : a));
    // Carried forward to now along the simulation's nominal pace.
    this.clock = { cycle: best.cycle, at: best.at };
  }

  private cycleAt(localMs: number): number | null {
    if (!this.clock) return null;
    return Math.round(this.clock.cycle + (localMs - this.clock.at) * CYCLES_PER_MS);
  }
}
