// The file's one clock: the daemon's wall clock (ms since the Unix epoch, as the store keeps every time), with
// zero at the session's created time, which is session_start_time and timestamps_reference_time. Every time in
// the file is seconds after it, in float64:
//
//   t = (ms − t0_ms) / 1000                     presentations (onset, offset), states, announcements
//   t = ((onset_ms − t0_ms) + spike_ms) / 1000  spikes (the store keeps them as float32 ms after the onset)
//
// onset_ms − t0_ms is exact in float64 (two nearby epoch times), so a reader who knows the onset recovers the stored
// float32 spike time to within float64 rounding.
import { EphysError } from "../../../analysis/errors.ts";
export class ClockError extends EphysError<"EPHYS_NWB_BAD_SESSION"> {
  constructor(message: string) {
    super("EPHYS_NWB_BAD_SESSION", message);
  }
}

export interface SessionClock {
  /** session_start_time: the session's created time, ISO 8601 in UTC. */
  readonly start: string;
  readonly t0Ms: number;
  /** A daemon time (ms since the epoch) in seconds after the start. */
  seconds(ms: number): number;
  /** A spike `spikeMs` after an onset at `onsetMs` (daemon ms), in seconds after the start. */
  spikeSeconds(onsetMs: number, spikeMs: number): number;
}

export function sessionClock(createdAt: string): SessionClock {
  const t0Ms = Date.parse(createdAt);
  if (!Number.isFinite(t0Ms))
    throw new ClockError(
      `sessions.created_at: got ${JSON.stringify(createdAt)}, expected an ISO 8601 time such as 2024-05-17T09:30:00.000Z`,
    );
  return {
    start: new Date(t0Ms).toISOString(),
    t0Ms,
    seconds: (ms) => (ms - t0Ms) / 1000,
    spikeSeconds: (onsetMs, spikeMs) => (onsetMs - t0Ms + spikeMs) / 1000,
  };
}
