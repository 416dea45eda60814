// Pure timing helpers shared by the display page and the headless display: clock offset from ping/pong
// samples, refresh-interval estimate, dropped-frame count, presentation length in frames. No DOM, no I/O.

/** One ping/pong round: client send and receive times and the server's clock when it answered (all ms). */
export interface SyncSample {
  tSend: number;
  tRecv: number;
  serverTime: number;
}

export interface ClockOffset {
  /** server clock − client clock, ms. */
  offsetMs: number;
  /** Round trip of the sample it came from; the offset error is at most rttMs / 2. */
  rttMs: number;
}

/** NTP-style offset: offset = serverTime − (tSend + tRecv) / 2, from the sample with the lowest round trip. */
export function bestClockOffset(samples: readonly SyncSample[]): ClockOffset | null {
  let best: ClockOffset | null = null;
  for (const s of samples) {
    const rttMs = s.tRecv - s.tSend;
    if (!(rttMs >= 0)) continue;
    if (best === null || rttMs < best.rttMs)
      best = { offsetMs: s.serverTime - (s.tSend + s.tRecv) / 2, rttMs };
  }
  return best;
}

/** Median of successive differences of frame timestamps (ms); null with fewer than two timestamps. */
export function medianFrameInterval(timestamps: readonly number[]): number | null {
  const d: number[] = [];
  for (let i = 1; i < timestamps.length; i++) {
    const x = timestamps[i] - timestamps[i - 1];
    if (x > 0) d.push(x);
  }
  if (d.length === 0) return null;
  d.sort((a, b) => a - b);
  const m = d.length >> 1;
  return d.length % 2 ? d[m] : (d[m - 1] + d[m]) / 2;
}

/** Snaps a measured interval to a refresh rate in Hz (rounded to 0.01 Hz). */
export function refreshHzFromInterval(intervalMs: number): number {
  return Math.round(100_000 / intervalMs) / 100;
}

/**
 * Frames missed in one frame interval: an interval longer than 1.5× nominal counts as dropped frames,
 * round(interval / nominal) − 1 of them (at least 1).
 */
export function droppedInInterval(intervalMs: number, nominalMs: number): number {
  if (intervalMs <= 1.5 * nominalMs) return 0;
  return Math.max(1, Math.round(intervalMs / nominalMs) - 1);
}

/** Number of frames a stimulus stays on: round(duration / frame), at least 1. */
export function framesForDuration(durationMs: number, frameMs: number): number {
  return Math.max(1, Math.round(durationMs / frameMs));
}

/**
 * Whether the frame starting at `elapsedMs` after onset is the one that must remove the stimulus so that
 * it is on for `frames` frames: the change drawn now appears one frame later, so clear once
 * elapsed ≥ (frames − 1) frames (with half a frame of slack for timestamp jitter).
 */
export function shouldClear(elapsedMs: number, frames: number, frameMs: number): boolean {
  return elapsedMs >= (frames - 1.5) * frameMs;
}
