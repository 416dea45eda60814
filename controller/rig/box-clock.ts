// The rig box's clock on the daemon's clock. The box stamps FIX, PD, EYE and ACK lines with its own millisecond
// counter; PING/PONG pairs (a version 2 PONG carries the box time) give samples (host send, host receive, box
// time) from which box times map to daemon times: an offset from the quickest round trips, and a rate once the
// samples span a few seconds, because a board's resonator may run up to ±0.5 % fast or slow.
export interface ClockSample {
  /** Daemon time the PING was written (ms since the epoch). */
  sentMs: number;
  /** Daemon time the PONG was read. */
  receivedMs: number;
  /** The box's millisecond counter in the PONG. */
  boxMs: number;
}

const KEEP = 64;
const MAX_RATE_ERROR = 0.01; // a rate further than 1 % from 1 is a measurement problem, not a resonator
const RATE_SPAN_MS = 5000; // samples must span this much box time before the rate is estimated

export class BoxClock {
  private samples: ClockSample[] = [];
  private fit: { offset: number; rate: number; uncertaintyMs: number } | null = null;

  /** Adds a sample; a box time that went backwards means the box restarted, and older samples are dropped. */
  add(sample: ClockSample): void {
    const last = this.samples.at(-1);
    if (last && sample.boxMs < last.boxMs) this.samples = [];
    this.samples.push(sample);
    if (this.samples.length > KEEP) this.samples.shift();
    this.fit = estimate(this.samples);
  }

  /** Forgets every sample (the box reset: its counter starts again from 0). */
  reset(): void {
    this.samples = [];
    this.fit = null;
  }

  /** The daemon time (ms since the epoch) of a box time, or undefined before the first PONG with a box time. */
  toHostMs(boxMs: number): number | undefined {
    if (!this.fit) return undefined;
    return this.fit.offset + this.fit.rate * boxMs;
  }

  /** Half the quickest round trip among the samples used: how far a mapped time may be off (plus drift). */
  get uncertaintyMs(): number | undefined {
    return this.fit?.uncertaintyMs;
  }

  get sampleCount(): number {
    return this.samples.length;
  }
}

/**
 * A box time k was read somewhere in [k, k + 1) box ms, and the PONG left the box between the host's send and
 * receive: its daemon time is estimated as the midpoint. Only the quickest round trips are used (the others
 * waited in a queue somewhere), and the line through them is fitted by least squares.
 */
function estimate(samples: ClockSample[]): { offset: number; rate: number; uncertaintyMs: number } | null {
  if (samples.length === 0) return null;
  const rtts = samples.map((s) => s.receivedMs - s.sentMs);
  const best = Math.min(...rtts);
  const good = samples.filter((_, i) => rtts[i] <= best + Math.max(1, best * 0.5));
  const points = good.map((s) => ({ box: s.boxMs + 0.5, host: (s.sentMs + s.receivedMs) / 2 }));
  const span = points.at(-1)!.box - points[0].box;
  let rate = 1;
  if (points.length >= 3 && span >= RATE_SPAN_MS) {
    const mb = points.reduce((a, p) => a + p.box, 0) / points.length;
    const mh = points.reduce((a, p) => a + p.host, 0) / points.length;
    let sxy = 0;
    let sxx = 0;
    for (const p of points) {
      sxy += (p.box - mb) * (p.host - mh);
      sxx += (p.box - mb) ** 2;
    }
    const fitted = sxy / sxx;
    if (Math.abs(fitted - 1) <= MAX_RATE_ERROR) rate = fitted;
  }
  // The offset through the centroid of the good points with that rate.
  const offset = points.reduce((a, p) => a + (p.host - rate * p.box), 0) / points.length;
  return { offset, rate, uncertaintyMs: best / 2 };
}
