// /display wire contract, version 1. The stimulus display page is the client.
import { z } from "zod";

export const DISPLAY_VERSION = 1;

export const displayHello = z.strictObject({
  type: z.literal("hello"),
  role: z.literal("display"),
  version: z.number().int(),
  token: z.string(),
  screen: z.strictObject({
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    refreshHz: z.number().positive(),
  }),
});
export const displayPreloaded = z.strictObject({
  type: z.literal("preloaded"),
  ok: z.boolean(),
  failed: z.array(z.string()),
});
export const displayShown = z.strictObject({
  type: z.literal("shown"),
  trialId: z.number().int().positive(),
  /** Server clock, ms since the Unix epoch (the page converts with its ping/pong offset). */
  onset: z.number().finite(),
  offset: z.number().finite(),
  droppedFrames: z.number().int().min(0),
});
/** Clock sync: the page sends ping {n, t}; the server answers pong {n, t, serverTime}. */
export const displayPing = z.strictObject({ type: z.literal("ping"), n: z.number().int(), t: z.number() });

export const displayClientMessage = z.discriminatedUnion("type", [
  displayHello,
  displayPreloaded,
  displayShown,
  displayPing,
]);
export type DisplayClientMessage = z.infer<typeof displayClientMessage>;

export interface CalibrationTarget {
  xDeg: number;
  yDeg: number;
  sizeDeg: number;
  pixelsPerDegree: number;
}

export type DisplayServerMessage =
  | { type: "welcome"; sessionId: string }
  | { type: "preload"; stimuli: Array<{ id: string; url: string }> }
  | { type: "show"; trialId: number; stimulusId: string; durationMs: number }
  | { type: "clear" }
  /**
   * The eye calibration's fixation target (a dot on the gray screen, `sizeDeg` across, at degrees from the centre,
   * x right and y up; `pixelsPerDegree` from the rig config), or null to remove it. No reply.
   */
  | { type: "target"; target: CalibrationTarget | null }
  | { type: "pong"; n: number; t: number; serverTime: number }
  | { type: "error"; code: string; message: string };
