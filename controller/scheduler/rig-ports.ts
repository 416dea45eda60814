// What a phase needs from the rig, as small interfaces: the daemon adapts the serial box, the display link and the
// acquisition hub to these, and tests can hand in their own.
import type { PresentationMeasures } from "../rig/rig-signals.ts";
import type { CalibrationTarget } from "../wire/display.ts";

export type { PresentationMeasures };
export interface ShownReport {
  onset: number;
  offset: number;
  droppedFrames: number;
}

export interface BoxPort {
  /** Current fixation state as last reported by the box. */
  readonly fixating: boolean;
  sendEvent(code: number): Promise<void>;
  reward(ms: number): Promise<void>;
  /** Subscribe to fixation changes; returns the unsubscribe function. */
  onFixation(listener: (fixating: boolean) => void): () => void;
  /**
   * What the box measured during a presentation the display reported from `onsetMs` to `offsetMs` (daemon clock):
   * photodiode edges and the eye (rig box protocol version 2). Absent, or resolving to {}, without such a box.
   */
  measure?(onsetMs: number, offsetMs: number): Promise<PresentationMeasures>;
}

export interface DisplayPort {
  /** Rejects with an error whose code is EPHYS_DISPLAY_TIMEOUT when the display never reports the presentation. */
  show(trialId: number, stimulusId: string, durationMs: number): Promise<ShownReport>;
  /** Blank the screen now and drop queued shows (after a presentation was given up). */
  clear?(): void;
  /** Draw the eye calibration's target, or remove it (null). */
  target?(target: CalibrationTarget | null): void;
}

export interface AnnouncePort {
  announce(t: { trialId: number; eventCode: number; stimulusId: string }): void;
  waitForData(trialIds: number[], timeoutMs: number, signal?: AbortSignal): Promise<number[]>;
}

/** Fixation is not monitored without a box: every presentation counts (the daemon logs a warning). */
export const alwaysFixating: BoxPort = {
  fixating: true,
  sendEvent: async () => {},
  reward: async () => {},
  onFixation: () => () => {},
};
