// The SpikeGLX bridge's channel map (docs/spikeglx.md): which probe's AP band is read, which stream and saved channel
// carry the digital word (the NI or OneBox stream's digital word: 16 lines in one int16 channel), which bits of it
// are the event word, the strobe and the photodiode, the online detection's settings, and which AP channels become
// which ephysloop channel ids. Problems are located by YAML path, line and column like protocol files.
import { readFileSync } from "node:fs";
import { z } from "zod";
import { parseYamlWith } from "../../../protocols/index.ts";
import { checkWordLines } from "../core/word-lines.ts";
import { CHANNEL_ID } from "../openephys/channel-map.ts";

/** A line of the digital word channel: one int16 sample holds 16 lines (bit i = line i). */
const line = z.number().int().min(0).max(15);

/** SpikeGLX stream types (its Remote Command API's js): 0 NI, 1 OneBox, 2 imec probe. */
export const JS_NI = 0;
export const JS_OBX = 1;
export const JS_IMEC = 2;

const channelEntry = z.strictObject({
  /** The ephysloop channel id (key of the spikes message). */
  id: z
    .string()
    .regex(CHANNEL_ID, "a channel id: letters, digits and _ . : - (1-64, not starting with a sign)"),
  /** The AP channel on the probe, 0-based, as SpikeGLX numbers the stream's saved AP channels (0..383). */
  apChannel: z.number().int().min(0).max(1535),
  probe: z.string().max(64).default("probe0"),
});

export const detectionSchema = z
  .strictObject({
    /** Threshold at −k × the channel's noise σ (median absolute deviation / 0.6745). */
    thresholdK: z.number().gt(0).max(50).default(4.5),
    /** No second detection on a channel within this many ms. */
    refractoryMs: z.number().min(0).max(20).default(1),
    /** Common-average reference across the probe's read channels, per sample. */
    car: z.enum(["none", "median", "mean"]).default("median"),
    /** σ from the first this-many ms, then followed with this time constant. */
    noiseWindowMs: z.number().min(50).max(60_000).default(1000),
    noiseTimeConstantS: z.number().gt(0).max(3600).default(30),
    /** ... over batches of this many ms (fixed in samples: any split of the stream gives the same σ). */
    noiseUpdateMs: z.number().min(1).max(10_000).default(50),
  })
  .default({
    thresholdK: 4.5,
    refractoryMs: 1,
    car: "median",
    noiseWindowMs: 1000,
    noiseTimeConstantS: 30,
    noiseUpdateMs: 50,
  });

export const spikeGlxMapSchema = z
  .strictObject({
    /** The imec probe (js 2) whose AP band is read: its index ip. */
    probe: z.number().int().min(0).max(63).default(0),
    /** The stream carrying the digital word: "ni" (js 0) or "onebox" (js 1), and its index ip. */
    wordStream: z
      .strictObject({
        type: z.enum(["ni", "onebox"]).default("ni"),
        ip: z.number().int().min(0).max(63).default(0),
      })
      .default({ type: "ni", ip: 0 }),
    /** The saved channel of that stream holding the digital word (SpikeGLX saves it after the analog channels). */
    wordChannel: z.number().int().min(0).max(4095),
    /** The word's lines that carry the event code, least significant bit first. */
    eventLines: z.array(line).min(1).max(16),
    strobeLine: line.optional(),
    wordBytes: z.union([z.literal(1), z.literal(2)]).default(1),
    photodiodeLine: line.optional(),
    detection: detectionSchema,
    channels: z.array(channelEntry).min(1).max(1536),
  })
  .superRefine((m, ctx) => {
    checkWordLines(m, ctx);
    const ids = new Set<string>();
    const ap = new Set<number>();
    m.channels.forEach((c, i) => {
      if (ids.has(c.id))
        ctx.addIssue({
          code: "custom",
          path: ["channels", i, "id"],
          input: c.id,
          message: "a channel id not used before",
        });
      if (ap.has(c.apChannel))
        ctx.addIssue({
          code: "custom",
          path: ["channels", i, "apChannel"],
          input: c.apChannel,
          message: "an AP channel not mapped before",
        });
      ids.add(c.id);
      ap.add(c.apChannel);
    });
  });

export type SpikeGlxMap = z.output<typeof spikeGlxMapSchema>;

export function parseSpikeGlxMap(text: string, file = "channels.yaml"): SpikeGlxMap {
  return parseYamlWith(spikeGlxMapSchema, text, file);
}

export function loadSpikeGlxMap(file: string): SpikeGlxMap {
  return parseSpikeGlxMap(readFileSync(file, "utf8"), file);
}

/** The hello's channel list: every mapped channel, in map order. */
export function helloChannels(map: SpikeGlxMap): Array<{ id: string; probe: string; index: number }> {
  return map.channels.map((c, index) => ({ id: c.id, probe: c.probe, index }));
}

/** The js of the word stream. */
export const wordJs = (map: SpikeGlxMap) => (map.wordStream.type === "ni" ? JS_NI : JS_OBX);
