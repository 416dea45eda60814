// The Open Ephys bridge's channel map (docs/openephys.md): which stream, which TTL lines carry the event word (and
// the strobe and the photodiode), and which electrodes (or sorted units) become which ephysloop channel ids. The
// Event Broadcaster does not list electrodes up front, so the map declares them, and the bridge's hello sends them.
// Problems are located by YAML path, line and column like protocol files (protocols/yaml-source.ts).
import { readFileSync } from "node:fs";
import { z } from "zod";
import { parseYamlWith } from "../../../protocols/index.ts";
import { checkWordLines } from "../core/word-lines.ts";

/** As the daemon requires (controller/wire/acquisition.ts, issue 16). */
export const CHANNEL_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

const line = z.number().int().min(0).max(63);

const channelEntry = z
  .strictObject({
    /** The ephysloop channel id (key of the spikes message). */
    id: z
      .string()
      .regex(CHANNEL_ID, "a channel id: letters, digits and _ . : - (1-64, not starting with a sign)"),
    /** The electrode's name as the Spike Detector shows it, e.g. "Electrode 1" (JSON format). */
    electrode: z.string().min(1).optional(),
    /** The electrode's position in the Spike Detector, 0-based (the binary format names electrodes only so). */
    spikeChannel: z.number().int().min(0).max(65535).optional(),
    /** Only spikes of this sorted unit; absent: every spike of the electrode (multi-unit). */
    sortedId: z.number().int().min(0).max(65535).optional(),
    probe: z.string().max(64).default("probe0"),
  })
  .refine((c) => c.electrode !== undefined || c.spikeChannel !== undefined, {
    message: "an electrode name (electrode) or its index in the Spike Detector (spikeChannel)",
  });

export const channelMapSchema = z
  .strictObject({
    /** The stream whose spikes and TTL events are used: its name (JSON format) or id (binary). */
    stream: z.union([z.string().min(1), z.number().int().min(0).max(65535)]).optional(),
    /** Samples per second; the binary format does not carry it (JSON does, and must agree). */
    sampleRate: z.number().positive().optional(),
    /** The TTL lines of the event word, least significant bit first. */
    eventLines: z.array(line).min(1).max(32),
    /** A line that rises when the event word is valid; without it the word is read when it leaves zero. */
    strobeLine: line.optional(),
    /** Strobes per code: 1, or 2 (two bytes, high byte first, as the rig-box firmware sends 16-bit codes). */
    wordBytes: z.union([z.literal(1), z.literal(2)]).default(1),
    /** The photodiode's TTL line (a Crossing Detector's output on the analog photodiode signal). */
    photodiodeLine: line.optional(),
    /** Only TTL events of this processor (node id) count for the event word / the photodiode. */
    eventSourceNode: z.number().int().min(0).max(65535).optional(),
    photodiodeSourceNode: z.number().int().min(0).max(65535).optional(),
    channels: z.array(channelEntry).min(1).max(4096),
  })
  .superRefine((m, ctx) => {
    checkWordLines(m, ctx);
    const ids = new Set<string>();
    const units = new Set<string>();
    m.channels.forEach((c, i) => {
      if (ids.has(c.id))
        ctx.addIssue({
          code: "custom",
          path: ["channels", i, "id"],
          input: c.id,
          message: "a channel id not used before",
        });
      ids.add(c.id);
      const unit = `${c.electrode ?? ""}\u0000${c.spikeChannel ?? ""}\u0000${c.sortedId ?? "*"}`;
      if (units.has(unit))
        ctx.addIssue({
          code: "custom",
          path: ["channels", i],
          input: c,
          message: "an electrode (and sortedId) not mapped before",
        });
      units.add(unit);
    });
  });

export type ChannelMap = z.output<typeof channelMapSchema>;
export type ChannelMapEntry = ChannelMap["channels"][number];

export function parseChannelMap(text: string, file = "channels.yaml"): ChannelMap {
  return parseYamlWith(channelMapSchema, text, file);
}

export function loadChannelMap(file: string): ChannelMap {
  return parseChannelMap(readFileSync(file, "utf8"), file);
}

/** The hello's channel list: every mapped channel, in map order. */
export function helloChannels(map: ChannelMap): Array<{ id: string; probe: string; index: number }> {
  return map.channels.map((c, index) => ({ id: c.id, probe: c.probe, index }));
}

/**
 * Which channel indices (into map.channels) a spike counts for: every multi-unit entry of its electrode and the
 * entry of its sorted unit. Keys: "e:<electrode name>" (JSON) and "i:<spike channel index>" (binary).
 */
export class SpikeRouter {
  private readonly byKey = new Map<string, { all: number[]; sorted: Map<number, number[]> }>();
  constructor(map: ChannelMap) {
    map.channels.forEach((c, i) => {
      const keys = [
        ...(c.electrode !== undefined ? [`e:${c.electrode}`] : []),
        ...(c.spikeChannel !== undefined ? [`i:${c.spikeChannel}`] : []),
      ];
      for (const key of keys) {
        let r = this.byKey.get(key);
        if (!r) {
          r = { all: [], sorted: new Map() };
          this.byKey.set(key, r);
        }
        if (c.sortedId === undefined) r.all.push(i);
        else {
          const list = r.sorted.get(c.sortedId) ?? [];
          list.push(i);
          r.sorted.set(c.sortedId, list);
        }
      }
    });
  }

  /** The channel indices of this spike; empty when the map does not name its electrode. */
  route(key: string, sortedId: number): readonly number[] {
    const r = this.byKey.get(key);
    if (!r) return EMPTY;
    const sorted = r.sorted.get(sortedId);
    if (!sorted) return r.all;
    return r.all.length ? [...r.all, ...sorted] : sorted;
  }
}
const EMPTY: readonly number[] = [];
