// The Event Broadcaster's frames: the emulator's encoder and the bridge's decoder against frames built by the
// plugin's own code (test/reference/openephys_broadcaster_fixtures.cpp: EventBroadcaster.cpp's property order and
// JUCE's JSON writer from the GUI v0.6.7 tree; Event.cpp / Spike.cpp's binary layouts).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  BroadcastError,
  decodeBroadcast,
  encodeSpike,
  encodeTtl,
  juceDouble,
} from "../../controller/bridges/openephys/broadcast-format.ts";
import { parseChannelMap, SpikeRouter } from "../../controller/bridges/openephys/channel-map.ts";
import { SourceError } from "../../protocols/yaml-source.ts";

interface Fixture {
  name: string;
  type: number;
  typeFrame: string;
  payload: string;
  input: Record<string, unknown>;
}
const fixtures: Fixture[] = JSON.parse(
  readFileSync("test/fixtures/openephys/broadcaster-frames.json", "utf8"),
);
const byName = (n: string) => fixtures.find((f) => f.name === n)!;
const frames = (f: Fixture) => [Buffer.from(f.typeFrame, "hex"), Buffer.from(f.payload, "hex")];

describe("Event Broadcaster frames", () => {
  it("encodes TTL events byte for byte as the plugin (JSON and binary)", () => {
    for (const f of fixtures.filter((x) => x.type === 0)) {
      const i = f.input as Record<string, string & number & boolean>;
      const json = f.name.includes("json");
      const [type, payload] = encodeTtl(
        {
          stream: i.stream ?? "",
          streamId: i.streamId ?? 0,
          sourceNode: i.sourceNode,
          channelName: i.channelName ?? "",
          channelIndex: i.channelIndex ?? 0,
          sampleRate: i.sampleRate ?? 30000,
          sampleNumber: Number(i.sampleNumber),
          line: i.line,
          state: i.state,
          word: BigInt(i.word ?? 0),
          timestamp: i.timestamp,
          metadata: Buffer.from(f.payload, "hex").subarray(34),
        },
        json ? "json" : "binary",
      );
      expect(type.toString("hex"), f.name).toBe(f.typeFrame);
      expect(payload.toString("hex"), f.name).toBe(f.payload);
    }
  });

  it("encodes spikes byte for byte as the plugin (JSON amplitudes through JUCE's number format; binary)", () => {
    for (const f of fixtures.filter((x) => x.type === 1)) {
      const i = f.input as Record<string, never>;
      const json = f.name.includes("json");
      const n = json ? (i.samplesAfterPeak as number[]).length : (i.numChannels as number);
      const per = json ? 40 : (i.samplesPerChannel as number);
      let waveform: Float32Array;
      let thresholds: number[];
      if (json) {
        waveform = new Float32Array(n * per);
        (i.samplesAfterPeak as number[]).forEach((v, ch) => {
          waveform[ch * per + 9] = v;
        });
        thresholds = Array(n).fill(-50);
      } else {
        const b = Buffer.from(f.payload, "hex");
        thresholds = Array.from({ length: n }, (_, k) => b.readFloatLE(26 + 4 * k));
        waveform = new Float32Array(n * per);
        for (let k = 0; k < n * per; k++) waveform[k] = b.readFloatLE(26 + 4 * n + 4 * k);
      }
      const [type, payload] = encodeSpike(
        {
          stream: (i.stream as string) ?? "",
          streamId: (i.streamId as number) ?? 0,
          sourceNode: i.sourceNode,
          electrode: (i.electrode as string) ?? "",
          channelIndex: (i.channelIndex as number) ?? 0,
          channelType: (i.channelType as number) ?? 1,
          sampleRate: (i.sampleRate as number) ?? 30000,
          sampleNumber: Number(i.sampleNumber),
          sortedId: i.sortedId,
          thresholds,
          waveform,
          samplesPerChannel: per,
          prePeakSamples: 8,
          timestamp: i.timestamp,
        },
        json ? "json" : "binary",
      );
      expect(type.toString("hex"), f.name).toBe(f.typeFrame);
      expect(payload.toString("hex"), f.name).toBe(f.payload);
    }
  });

  it("decodes every fixture to its fields", () => {
    const ttl = decodeBroadcast(frames(byName("ttl-json-falling-large-sample")));
    expect(ttl).toEqual({
      kind: "ttl",
      format: "json",
      stream: "example_data",
      sourceNode: 100,
      channel: "TTL Input",
      sampleNumber: 12345678901,
      sampleRate: 30000,
      line: 8,
      state: false,
    });
    expect(decodeBroadcast(frames(byName("ttl-binary-word-64")))).toMatchObject({
      kind: "ttl",
      format: "binary",
      sourceNode: 100,
      stream: 1,
      channel: 2,
      sampleNumber: 12345678901,
      line: 63,
      state: true,
      word: 0x8000000000000105n,
    });
    expect(decodeBroadcast(frames(byName("ttl-binary-with-metadata")))).toMatchObject({
      line: 8,
      word: 256n,
    });
    expect(decodeBroadcast(frames(byName("spike-json-sorted")))).toEqual({
      kind: "spike",
      format: "json",
      stream: "example_data",
      sourceNode: 105,
      electrode: "Electrode 12",
      sampleNumber: 987654321,
      sampleRate: 30000,
      sortedId: 2,
    });
    expect(decodeBroadcast(frames(byName("spike-binary-tetrode")))).toEqual({
      kind: "spike",
      format: "binary",
      sourceNode: 105,
      stream: 2,
      channelIndex: 1,
      sampleNumber: 9876543210,
      sortedId: 3,
    });
  });

  it("names what is wrong in a bad message", () => {
    const t = Buffer.from([0, 0]);
    const cases: Array<[Buffer[], RegExp]> = [
      [[t], /expected 2 frames/],
      [[Buffer.from([5, 0]), Buffer.from("{}")], /type frame: expected 0 .* or 1/],
      [
        [
          t,
          Buffer.from(
            '{"event_type":"ttl","stream":"s","source_node":1,"sample_rate":30000,"channel_name":"x","sample_number":5,"line":1,"state":"on"}',
          ),
        ],
        /state: expected true or false/,
      ],
      [[t, Buffer.from('{"event_type":"spike"}')], /event_type: expected "ttl"/],
      [[t, Buffer.from("{not json")], /not valid JSON/],
      [[t, Buffer.alloc(20, 1)], /at least 34 bytes/],
      [[Buffer.from([1, 0]), Buffer.from([1, 1, 0])], /at least 26 bytes/],
    ];
    for (const [f, re] of cases) {
      expect(() => decodeBroadcast(f)).toThrow(BroadcastError);
      expect(() => decodeBroadcast(f)).toThrow(re);
    }
  });

  it("formats numbers as JUCE's serialiseDouble (its own unit-test table)", () => {
    // JUCE's literals; those with more digits than a double holds are spelled Number("…") (the same double).
    const table: Array<[number, string]> = [
      [Number("1234567890123456.7"), "1.234567890123457e15"],
      [12345678.901234567, "1.234567890123457e7"],
      [1234567.8901234567, "1.234567890123457e6"],
      [123456.78901234567, "123456.7890123457"],
      [12345.678901234567, "12345.67890123457"],
      [1234.5678901234567, "1234.567890123457"],
      [123.45678901234567, "123.4567890123457"],
      [12.345678901234567, "12.34567890123457"],
      [1.2345678901234567, "1.234567890123457"],
      [Number("0.12345678901234567"), "0.1234567890123457"],
      [0.012345678901234567, "0.01234567890123457"],
      [0.0012345678901234567, "0.001234567890123457"],
      [0.00012345678901234567, "0.0001234567890123457"],
      [Number("0.000012345678901234567"), "0.00001234567890123457"],
      [0.0000012345678901234567, "1.234567890123457e-6"],
      [Number("0.00000012345678901234567"), "1.234567890123457e-7"],
    ];
    for (const [x, s] of table) {
      expect(juceDouble(x)).toBe(s);
      expect(juceDouble(-x)).toBe(`-${s}`);
    }
    expect(juceDouble(30000)).toBe("30000.0");
  });
});

describe("channel map", () => {
  it("routes multi-unit and sorted units, and locates every problem by line and column", () => {
    const map = parseChannelMap(
      'stream: example_data\neventLines: [0, 1, 2]\nphotodiodeLine: 8\nchannels:\n  - { id: a, electrode: "Electrode 1" }\n  - { id: b, electrode: "Electrode 1", sortedId: 2 }\n  - { id: c, spikeChannel: 4 }\n',
    );
    const r = new SpikeRouter(map);
    expect(r.route("e:Electrode 1", 0)).toEqual([0]);
    expect(r.route("e:Electrode 1", 2)).toEqual([0, 1]);
    expect(r.route("i:4", 7)).toEqual([2]);
    expect(r.route("e:Electrode 9", 0)).toEqual([]);
    let err: SourceError | undefined;
    try {
      parseChannelMap(
        "eventLines: [0, 1, 1]\nphotodiodeLine: 0\nchannels:\n  - { id: -bad }\n  - { id: ok, electrode: E, colour: red }\n",
        "map.yaml",
      );
    } catch (e) {
      err = e as SourceError;
    }
    expect(err).toBeInstanceOf(SourceError);
    const where = err!.problems.map((p) => `${p.path}@${p.line}:${p.column}`);
    expect(where).toEqual(
      expect.arrayContaining([
        "eventLines[2]@1:20",
        "photodiodeLine@2:17",
        "channels[0].id@4:11",
        "channels[0]@4:5",
        "channels[1].colour@5:29",
      ]),
    );
    expect(err!.message).toMatch(
      /map\.yaml:1:20 eventLines\[2\]: expected a line not already used as an event line/,
    );
  });
});
