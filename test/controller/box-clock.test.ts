// BoxClock (controller/rig/box-clock.ts): box times onto the daemon's clock from PING/PONG samples, checked on
// synthetic links whose true offset, rate and delays are known.
import { describe, expect, it } from "vitest";
import { mulberry32 } from "../../analysis/random.ts";
import { BoxClock } from "../../controller/rig/box-clock.ts";

/** A box whose counter reads floor((host − t0) · rate), pinged every `everyMs` over a link with random delays. */
function link(o: { t0: number; rate: number; n: number; everyMs: number; seed: number; slowEvery?: number }) {
  const random = mulberry32(o.seed);
  const clock = new BoxClock();
  for (let i = 0; i < o.n; i++) {
    const sent = o.t0 + 1000 + i * o.everyMs;
    const up = 0.4 + random() * 0.3 + (o.slowEvery && i % o.slowEvery === 0 ? 25 : 0); // a queued ping now and then
    const down = 0.4 + random() * 0.3;
    const boxMs = Math.floor((sent + up - o.t0) * o.rate);
    clock.add({ sentMs: sent, receivedMs: sent + up + down, boxMs });
  }
  return clock;
}

describe("BoxClock", () => {
  it("is undefined before any sample", () => {
    expect(new BoxClock().toHostMs(5)).toBeUndefined();
  });

  it("maps within a millisecond on a link with the box's clock at the host's rate", () => {
    const t0 = 1_700_000_000_000;
    const clock = link({ t0, rate: 1, n: 40, everyMs: 1000, seed: 1, slowEvery: 7 });
    for (const boxMs of [2000, 20_000, 41_000])
      expect(Math.abs(clock.toHostMs(boxMs)! - (t0 + boxMs))).toBeLessThan(1);
    expect(clock.uncertaintyMs).toBeLessThan(0.6);
  });

  it("follows a resonator 0.5 % fast, which an offset alone would miss by seconds' worth of drift", () => {
    const t0 = 1_700_000_000_000;
    const rate = 1.005;
    const clock = link({ t0, rate, n: 60, everyMs: 1000, seed: 2 });
    for (const boxMs of [5000, 30_000, 60_000]) {
      const truth = t0 + boxMs / rate;
      expect(Math.abs(clock.toHostMs(boxMs)! - truth)).toBeLessThan(1);
    }
  });

  it("starts over when the box's counter goes backwards (the box reset)", () => {
    const clock = link({ t0: 1000, rate: 1, n: 10, everyMs: 500, seed: 3 });
    clock.add({ sentMs: 100_000, receivedMs: 100_001, boxMs: 3 });
    expect(clock.sampleCount).toBe(1);
    // Read somewhere in box ms 3, i.e. at 3.5 on average, midway through the round trip.
    expect(clock.toHostMs(3.5)).toBeCloseTo(100_000.5, 6);
  });
});
