// /acquisition wire contract, version 1 (docs/protocol.md). The acquisition bridge is the client.
import { z } from "zod";

export const ACQUISITION_VERSION = 1;

/** Channel ids (docs/protocol.md): 1–64 characters, letters, digits and `_ . : -`, starting with a letter or digit. */
export const CHANNEL_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
const channelId = z
  .string()
  .regex(
    CHANNEL_ID_PATTERN,
    "expected a channel id of 1–64 characters: letters, digits and _ . : -, starting with a letter or digit",
  );
/** Largest count a `counts` message may carry for one window (as many as a `spikes` message may list). */
export const MAX_COUNT = 100_000;
const seq = z.number().int().positive("expected a positive integer seq (starting at 1)");
const trialId = z.number().int().positive();

export const acquisitionHello = z.strictObject({
  type: z.literal("hello"),
  role: z.literal("acquisition"),
  version: z.number().int(),
  token: z.string(),
  /** Names this bridge process: a hello with the same bridgeId replaces a connection still open; another is refused. */
  bridgeId: z
    .string()
    .regex(CHANNEL_ID_PATTERN, "expected 1–64 characters: letters, digits and _ . : -")
    .optional(),
  channels: z
    .array(
      z.strictObject({
        id: channelId,
        probe: z.string().max(64).default("probe0"),
        index: z.number().int().min(0),
      }),
    )
    .min(1, "expected at least one channel")
    .max(4096)
    .superRefine((channels, ctx) => {
      const seen = new Set<string>();
      channels.forEach((c, i) => {
        if (seen.has(c.id))
          ctx.addIssue({ code: "custom", path: [i, "id"], message: `channel id ${c.id} is listed twice` });
        seen.add(c.id);
      });
    }),
});

export const spikesMessage = z.strictObject({
  type: z.literal("spikes"),
  seq,
  trialId,
  /** Spike times in ms relative to stimulus onset, per channel id. */
  channels: z.record(channelId, z.array(z.number().finite()).max(100_000)),
  /** Where the onset came from on the acquisition clock (timing QA); stored per trial, first one kept. */
  onset: z
    .strictObject({
      source: z.enum(["photodiode", "event"]),
      /** The onset's sample number on the acquisition clock. */
      sample: z.number().int(),
      sampleRate: z.number().positive(),
      /** Photodiode onset − event-word onset, ms; null without a photodiode onset. */
      photodiodeMinusEventMs: z.number().finite().nullable(),
    })
    .optional(),
});

export const countsMessage = z.strictObject({
  type: z.literal("counts"),
  seq,
  trialId,
  /** Spike counts per window name (e.g. baseline, response) per channel id, for bridges that only count. */
  channels: z.record(channelId, z.record(z.string().min(1).max(64), z.number().int().min(0).max(MAX_COUNT))),
});

/** Something the bridge saw that the day should know (a missing or extra event code, …): an event record. */
export const noticeMessage = z.strictObject({
  type: z.literal("notice"),
  code: z.string().regex(/^EPHYS_[A-Z0-9_]{1,58}$/, "a code like EPHYS_BRIDGE_MISSING_CODE"),
  message: z.string().min(1).max(2000),
  trialId: trialId.optional(),
});

export const acquisitionClientMessage = z.discriminatedUnion("type", [
  acquisitionHello,
  spikesMessage,
  countsMessage,
  noticeMessage,
]);
export type AcquisitionClientMessage = z.infer<typeof acquisitionClientMessage>;
export type SpikesMessage = z.infer<typeof spikesMessage>;
export type CountsMessage = z.infer<typeof countsMessage>;
export type NoticeMessage = z.infer<typeof noticeMessage>;
export type TrialOnset = NonNullable<SpikesMessage["onset"]>;

export type AcquisitionServerMessage =
  | { type: "welcome"; sessionId: string; lastAckedSeq: number; window: { preMs: number; postMs: number } }
  | { type: "trial"; trialId: number; eventCode: number; stimulusId: string; replay?: true }
  | { type: "ack"; seq: number }
  | { type: "error"; seq?: number; code: string; message: string };
