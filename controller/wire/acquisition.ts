// /acquisition wire contract, version 1 (docs/protocol.md). The acquisition bridge is the client.
import { z } from "zod";

export const ACQUISITION_VERSION = 1;

const channelId = z.string().min(1).max(64);
const seq = z.number().int().positive("expected a positive integer seq (starting at 1)");
const trialId = z.number().int().positive();

export const acquisitionHello = z.strictObject({
  type: z.literal("hello"),
  role: z.literal("acquisition"),
  version: z.number().int(),
  token: z.string(),
  channels: z
    .array(
      z.strictObject({
        id: channelId,
        probe: z.string().max(64).default("probe0"),
        index: z.number().int().min(0),
      }),
    )
    .min(1, "expected at least one channel")
    .max(4096),
});

export const spikesMessage = z.strictObject({
  type: z.literal("spikes"),
  seq,
  trialId,
  /** Spike times in ms relative to stimulus onset, per channel id. */
  channels: z.record(channelId, z.array(z.number().finite()).max(100_000)),
});

export const countsMessage = z.strictObject({
  type: z.literal("counts"),
  seq,
  trialId,
  /** Spike counts per window name (e.g. baseline, response) per channel id, for bridges that only count. */
  channels: z.record(channelId, z.record(z.string(), z.number().int().min(0))),
});

export const acquisitionClientMessage = z.discriminatedUnion("type", [
  acquisitionHello,
  spikesMessage,
  countsMessage,
]);
export type AcquisitionClientMessage = z.infer<typeof acquisitionClientMessage>;
export type SpikesMessage = z.infer<typeof spikesMessage>;
export type CountsMessage = z.infer<typeof countsMessage>;

export type AcquisitionServerMessage =
  | { type: "welcome"; sessionId: string; lastAckedSeq: number; window: { preMs: number; postMs: number } }
  | { type: "trial"; trialId: number; eventCode: number; stimulusId: string }
  | { type: "ack"; seq: number }
  | { type: "error"; seq?: number; code: string; message: string };
