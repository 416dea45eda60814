// The Open Ephys Event Broadcaster's ZMQ messages (open-ephys-plugins/event-broadcaster, Source/EventBroadcaster.cpp,
// sendEvent/sendSpike, releases 0.2.x for GUI 0.6 and 0.3.x for GUI 1.0): two frames, a little-endian uint16 type
// (0 = TTL event, 1 = spike) and a payload that is either JUCE's JSON text (the plugin's "JSON" output format) or the
// GUI's serialized event (the "Raw Binary" format; layout from the GUI's Source/Processors/Events/Event.cpp and
// Spike.cpp). Decoding (the bridge) and encoding (the emulator, controller/simulate/openephys-broadcaster.ts) live
// here together; test/controller/openephys-format.test.ts checks both against frames built by the plugin's code
// (test/reference/openephys_broadcaster_fixtures.cpp).
import { EphysError } from "../../../analysis/errors.ts";

export const TYPE_TTL = 0;
export const TYPE_SPIKE = 1;

/** Byte 0 of a serialized event (Event.h, enum EventBase::Type). */
const PROCESSOR_EVENT = 1;
const SPIKE_EVENT = 2;
/** Byte 1 of a serialized TTL event (EventChannel.h, EventChannel::TTL). */
const TTL_CHANNEL = 3;
const EVENT_BASE_SIZE = 24;
const SPIKE_BASE_SIZE = 26;
const TTL_BINARY_SIZE = EVENT_BASE_SIZE + 10;

export type BroadcastFormat = "json" | "binary";

export interface TtlMessage {
  kind: "ttl";
  format: BroadcastFormat;
  /** JSON: the stream's name; binary: the stream id. */
  stream: string | number;
  sourceNode: number;
  /** JSON: channel_name; binary: the event channel's local index. */
  channel: string | number;
  sampleNumber: number;
  /** JSON only (the binary event does not carry it). */
  sampleRate?: number;
  line: number;
  state: boolean;
  /** Binary only: the channel's whole TTL word after this change. */
  word?: bigint;
}

export interface SpikeMessage {
  kind: "spike";
  format: BroadcastFormat;
  stream: string | number;
  sourceNode: number;
  /** JSON only: the electrode's name, e.g. "Electrode 1". */
  electrode?: string;
  /** Binary only: the spike channel's local index (the electrode's position in the Spike Detector). */
  channelIndex?: number;
  sampleNumber: number;
  sampleRate?: number;
  sortedId: number;
}

export type BroadcastMessage = TtlMessage | SpikeMessage;

export class BroadcastError extends EphysError<"EPHYS_BAD_BROADCAST"> {
  constructor(message: string) {
    super("EPHYS_BAD_BROADCAST", message);
  }
}

const bad = (message: string) => new BroadcastError(message);

/** One ZMQ message (its frames) → a TTL event or a spike; throws BroadcastError naming what is wrong. */
export function decodeBroadcast(frames: ReadonlyArray<Buffer>): BroadcastMessage {
  if (frames.length !== 2) throw bad(`expected 2 frames (uint16 type, payload), got ${frames.length}`);
  const [typeFrame, payload] = frames;
  if (typeFrame.length !== 2)
    throw bad(`type frame: expected 2 bytes (little-endian uint16), got ${typeFrame.length}`);
  const type = typeFrame.readUInt16LE(0);
  if (type !== TYPE_TTL && type !== TYPE_SPIKE)
    throw bad(`type frame: expected 0 (TTL event) or 1 (spike), got ${type}`);
  if (payload.length > 0 && payload[0] === 0x7b) return decodeJson(type, payload);
  return decodeBinary(type, payload);
}

function decodeJson(type: number, payload: Buffer): BroadcastMessage {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(payload.toString("utf8"));
  } catch (e) {
    throw bad(`payload: not valid JSON (${(e as Error).message})`);
  }
  if (typeof o !== "object" || o === null || Array.isArray(o)) throw bad("payload: expected a JSON object");
  const str = (k: string) => {
    const v = o[k];
    if (typeof v !== "string") throw bad(`${k}: expected a string, got ${JSON.stringify(v)}`);
    return v;
  };
  const int = (k: string, min = 0) => {
    const v = o[k];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min)
      throw bad(`${k}: expected an integer >= ${min}, got ${JSON.stringify(v)}`);
    return v;
  };
  const rate = () => {
    const v = o.sample_rate;
    if (typeof v !== "number" || !(v > 0))
      throw bad(`sample_rate: expected a number > 0, got ${JSON.stringify(v)}`);
    return v;
  };
  const eventType = str("event_type");
  if (type === TYPE_TTL) {
    if (eventType !== "ttl")
      throw bad(`event_type: expected "ttl" for type 0, got ${JSON.stringify(eventType)}`);
    const state = o.state;
    if (typeof state !== "boolean") throw bad(`state: expected true or false, got ${JSON.stringify(state)}`);
    const line = int("line");
    if (line > 255) throw bad(`line: expected 0..255, got ${line}`);
    return {
      kind: "ttl",
      format: "json",
      stream: str("stream"),
      sourceNode: int("source_node"),
      channel: str("channel_name"),
      sampleNumber: int("sample_number", Number.MIN_SAFE_INTEGER),
      sampleRate: rate(),
      line,
      state,
    };
  }
  if (eventType !== "spike")
    throw bad(`event_type: expected "spike" for type 1, got ${JSON.stringify(eventType)}`);
  return {
    kind: "spike",
    format: "json",
    stream: str("stream"),
    sourceNode: int("source_node"),
    electrode: str("electrode"),
    sampleNumber: int("sample_number", Number.MIN_SAFE_INTEGER),
    sampleRate: rate(),
    sortedId: int("sorted_id"),
  };
}

function int64(b: Buffer, at: number): number {
  const v = b.readBigInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))
    throw bad(`sample number ${v} is beyond 2^53`);
  return Number(v);
}

function decodeBinary(type: number, b: Buffer): BroadcastMessage {
  if (type === TYPE_TTL) {
    if (b.length < TTL_BINARY_SIZE)
      throw bad(`binary TTL event: expected at least ${TTL_BINARY_SIZE} bytes, got ${b.length}`);
    if (b[0] !== PROCESSOR_EVENT || b[1] !== TTL_CHANNEL)
      throw bad(
        `binary TTL event: expected bytes 0-1 = ${PROCESSOR_EVENT}, ${TTL_CHANNEL} (processor event, TTL), got ${b[0]}, ${b[1]}`,
      );
    return {
      kind: "ttl",
      format: "binary",
      sourceNode: b.readUInt16LE(2),
      stream: b.readUInt16LE(4),
      channel: b.readUInt16LE(6),
      sampleNumber: int64(b, 8),
      line: b[EVENT_BASE_SIZE],
      state: b[EVENT_BASE_SIZE + 1] === 1,
      word: b.readBigUInt64LE(EVENT_BASE_SIZE + 2),
    };
  }
  if (b.length < SPIKE_BASE_SIZE)
    throw bad(`binary spike: expected at least ${SPIKE_BASE_SIZE} bytes, got ${b.length}`);
  if (b[0] !== SPIKE_EVENT)
    throw bad(`binary spike: expected byte 0 = ${SPIKE_EVENT} (spike event), got ${b[0]}`);
  return {
    kind: "spike",
    format: "binary",
    sourceNode: b.readUInt16LE(2),
    stream: b.readUInt16LE(4),
    channelIndex: b.readUInt16LE(6),
    sampleNumber: int64(b, 8),
    sortedId: b.readUInt16LE(24),
  };
}

// ---- encoding (what the plugin sends), for the emulator ----

/** JUCE 6's serialiseDouble (juce_String.cpp), the number format of JSON::toString. */
export function juceDouble(x: number): string {
  if (!Number.isFinite(x)) return "null";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const a = Math.abs(x);
  if (a >= 1e6 || a <= 1e-5) return reduceFloatString(x.toExponential(15));
  if (Math.trunc(x) === x) return x.toFixed(1);
  const places =
    a < 1
      ? a >= 1e-3
        ? a >= 1e-1
          ? 16
          : a >= 1e-2
            ? 17
            : 18
        : a >= 1e-4
          ? 19
          : 20
      : a < 1e3
        ? a < 1e1
          ? 15
          : a < 1e2
            ? 14
            : 13
        : a < 1e4
          ? 12
          : a < 1e5
            ? 11
            : 10;
  return reduceFloatString(x.toFixed(places));
}

/** JUCE's reduceLengthOfFloatString: trailing zeros off (one kept after the point), exponent without + and 0s. */
function reduceFloatString(s: string): string {
  const e = s.search(/e/i);
  let mantissa = e < 0 ? s : s.slice(0, e);
  if (mantissa.includes(".")) {
    mantissa = mantissa.replace(/0+$/, "");
    if (mantissa.endsWith(".")) mantissa += "0";
  }
  if (e < 0) return mantissa;
  const exp = s.slice(e + 1);
  const sign = exp.startsWith("-") ? "-" : "";
  const digits = exp.replace(/^[+-]/, "").replace(/^0+/, "");
  return digits ? `${mantissa}e${sign}${digits}` : mantissa;
}

/** A string as JUCE's JSON writer escapes it (printable ASCII as is, the rest as \uXXXX). */
function juceString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (c === 7) out += "\\a";
    else if (c === 8) out += "\\b";
    else if (c === 12) out += "\\f";
    else if (c === 9) out += "\\t";
    else if (c === 13) out += "\\r";
    else if (c === 10) out += "\\n";
    else if (c >= 32 && c < 127) out += ch;
    else for (let i = 0; i < ch.length; i++) out += `\\u${ch.charCodeAt(i).toString(16).padStart(4, "0")}`;
  }
  return `${out}"`;
}

/** JSON::toString of a DynamicObject: one property a line, 2 spaces, "\r\n" line ends (JUCE's NewLine). */
function juceObject(props: Array<[string, string]>): string {
  return `{\r\n${props.map(([k, v]) => `  ${juceString(k)}: ${v}`).join(",\r\n")}\r\n}`;
}

/** sample_rate is a float in the GUI (InfoObject::getSampleRate), widened to double by var. */
const floatRate = (r: number) => juceDouble(Math.fround(r));

export interface TtlFields {
  stream: string;
  streamId: number;
  sourceNode: number;
  channelName: string;
  channelIndex: number;
  sampleRate: number;
  sampleNumber: number;
  line: number;
  state: boolean;
  /** The channel's whole TTL word after this change (binary format). */
  word: bigint;
  /** Trailing metadata bytes of the binary event (e.g. the Crossing Detector's). */
  metadata?: Buffer;
  /** Seconds (binary); default sampleNumber / sampleRate. */
  timestamp?: number;
}

export interface SpikeFields {
  stream: string;
  streamId: number;
  sourceNode: number;
  electrode: string;
  channelIndex: number;
  /** SpikeChannel::Type: 1 single electrode, 2 stereotrode, 3 tetrode. */
  channelType: number;
  sampleRate: number;
  sampleNumber: number;
  sortedId: number;
  /** Detection threshold per channel (binary). */
  thresholds: number[];
  /** Waveform, channel after channel (binary); JSON's amp<k> is −waveform[k][prePeak + 1]. */
  waveform: Float32Array;
  samplesPerChannel: number;
  prePeakSamples: number;
  /** Seconds (binary); default sampleNumber / sampleRate. */
  timestamp?: number;
}

const typeFrame = (t: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(t, 0);
  return b;
};
const TTL_FRAME = typeFrame(TYPE_TTL);
const SPIKE_FRAME = typeFrame(TYPE_SPIKE);

export function encodeTtl(f: TtlFields, format: BroadcastFormat): [Buffer, Buffer] {
  if (format === "json")
    return [
      TTL_FRAME,
      Buffer.from(
        juceObject([
          ["event_type", juceString("ttl")],
          ["stream", juceString(f.stream)],
          ["source_node", String(f.sourceNode)],
          ["sample_rate", floatRate(f.sampleRate)],
          ["channel_name", juceString(f.channelName)],
          ["sample_number", String(f.sampleNumber)],
          ["line", String(f.line)],
          ["state", f.state ? "true" : "false"],
        ]),
        "utf8",
      ),
    ];
  const meta = f.metadata ?? Buffer.alloc(0);
  const b = Buffer.alloc(TTL_BINARY_SIZE + meta.length);
  b[0] = PROCESSOR_EVENT;
  b[1] = TTL_CHANNEL;
  b.writeUInt16LE(f.sourceNode, 2);
  b.writeUInt16LE(f.streamId, 4);
  b.writeUInt16LE(f.channelIndex, 6);
  b.writeBigInt64LE(BigInt(f.sampleNumber), 8);
  b.writeDoubleLE(f.timestamp ?? f.sampleNumber / f.sampleRate, 16);
  b[EVENT_BASE_SIZE] = f.line;
  b[EVENT_BASE_SIZE + 1] = f.state ? 1 : 0;
  b.writeBigUInt64LE(f.word, EVENT_BASE_SIZE + 2);
  meta.copy(b, TTL_BINARY_SIZE);
  return [TTL_FRAME, b];
}

export function encodeSpike(f: SpikeFields, format: BroadcastFormat): [Buffer, Buffer] {
  const nCh = f.thresholds.length;
  if (format === "json") {
    const props: Array<[string, string]> = [
      ["event_type", juceString("spike")],
      ["stream", juceString(f.stream)],
      ["source_node", String(f.sourceNode)],
      ["electrode", juceString(f.electrode)],
      ["num_channels", String(nCh)],
      ["sample_rate", floatRate(f.sampleRate)],
      ["sample_number", String(f.sampleNumber)],
      ["sorted_id", String(f.sortedId)],
    ];
    for (let ch = 0; ch < nCh; ch++)
      props.push([
        `amp${ch + 1}`,
        juceDouble(-Math.fround(f.waveform[ch * f.samplesPerChannel + f.prePeakSamples + 1])),
      ]);
    return [SPIKE_FRAME, Buffer.from(juceObject(props), "utf8")];
  }
  const b = Buffer.alloc(SPIKE_BASE_SIZE + 4 * nCh + 4 * f.waveform.length);
  b[0] = SPIKE_EVENT;
  b[1] = f.channelType;
  b.writeUInt16LE(f.sourceNode, 2);
  b.writeUInt16LE(f.streamId, 4);
  b.writeUInt16LE(f.channelIndex, 6);
  b.writeBigInt64LE(BigInt(f.sampleNumber), 8);
  b.writeDoubleLE(f.timestamp ?? f.sampleNumber / f.sampleRate, 16);
  b.writeUInt16LE(f.sortedId, 24);
  let at = SPIKE_BASE_SIZE;
  for (const t of f.thresholds) {
    b.writeFloatLE(t, at);
    at += 4;
  }
  Buffer.from(f.waveform.buffer, f.waveform.byteOffset, f.waveform.byteLength).copy(b, at);
  return [SPIKE_FRAME, b];
}
