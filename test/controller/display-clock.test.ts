// Timing helpers of the display page (stimuli/display/clock.ts), from worked examples.
import { describe, expect, it } from "vitest";
import { mulberry32 } from "../../analysis/random.ts";
import {
  bestClockOffset,
  droppedInInterval,
  framesForDuration,
  medianFrameInterval,
  refreshHzFromInterval,
  shouldClear,
} from "../../stimuli/display/clock.ts";

describe("clock offset from ping/pong", () => {
  it("takes the lowest-RTT sample: offset = serverTime − (tSend + tRecv)/2", () => {
    const samples = [
      { tSend: 1000, tRecv: 1040, serverTime: 6030 }, // rtt 40 → 5010
      { tSend: 2000, tRecv: 2004, serverTime: 7003 }, // rtt 4 → 5001
      { tSend: 3000, tRecv: 3010, serverTime: 8000 }, // rtt 10 → 4995
    ];
    expect(bestClockOffset(samples)).toEqual({ offsetMs: 5001, rttMs: 4 });
    expect(bestClockOffset([])).toBeNull();
    expect(bestClockOffset([{ tSend: 10, tRecv: 5, serverTime: 0 }])).toBeNull(); // negative RTT ignored
  });

  it("stays within rtt/2 of the true offset under asymmetric random delays", () => {
    const random = mulberry32(11);
    const trueOffset = -123_456.7;
    const samples = Array.from({ length: 20 }, (_, i) => {
      const tSend = 1000 * i;
      const up = 0.2 + 30 * random();
      const down = 0.2 + 30 * random();
      return { tSend, tRecv: tSend + up + down, serverTime: tSend + up + trueOffset };
    });
    const best = bestClockOffset(samples)!;
    expect(Math.abs(best.offsetMs - trueOffset)).toBeLessThanOrEqual(best.rttMs / 2 + 1e-9);
    expect(best.rttMs).toBe(Math.min(...samples.map((s) => s.tRecv - s.tSend)));
  });
});

describe("frames", () => {
  it("measures the refresh interval as the median frame step", () => {
    expect(medianFrameInterval([0, 16, 33, 50, 100, 116])).toBe(17); // steps 16 17 17 50 16
    expect(medianFrameInterval([0, 10, 30])).toBe(15);
    expect(medianFrameInterval([5])).toBeNull();
    expect(refreshHzFromInterval(1000 / 60)).toBe(60);
    expect(refreshHzFromInterval(8.333)).toBe(120); // 120.0048 Hz
    expect(refreshHzFromInterval(1000 / 59.94)).toBe(59.94);
  });

  it("counts frames missed in intervals longer than 1.5× nominal", () => {
    expect(droppedInInterval(16.7, 16.7)).toBe(0);
    expect(droppedInInterval(25, 16.7)).toBe(0);
    expect(droppedInInterval(25.1, 16.7)).toBe(1);
    expect(droppedInInterval(33.4, 16.7)).toBe(1);
    expect(droppedInInterval(50.1, 16.7)).toBe(2);
  });

  it("turns durations into whole frames and clears one frame ahead", () => {
    const f = 1000 / 60;
    expect(framesForDuration(100, f)).toBe(6);
    expect(framesForDuration(1, f)).toBe(1);
    expect(framesForDuration(1500, f)).toBe(90);
    // 6 frames: the clear is drawn in the frame starting 5 frames after onset and shows from frame 6.
    expect(shouldClear(4 * f, 6, f)).toBe(false);
    expect(shouldClear(4.5 * f, 6, f)).toBe(true);
    expect(shouldClear(5 * f, 6, f)).toBe(true);
    expect(shouldClear(0, 1, f)).toBe(true);
  });
});
