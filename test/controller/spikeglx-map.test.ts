// The SpikeGLX bridge's channel map: a lab's map parses with the detection defaults; a wrong one is refused naming
// the YAML path and what was expected. The noise notice names the channels far from the median.
import { describe, expect, it } from "vitest";
import { parseSpikeGlxMap } from "../../controller/bridges/spikeglx/channel-map.ts";
import { noiseSummary } from "../../controller/bridges/spikeglx/input.ts";
import { spikeGlxRigChannelMap } from "../../controller/simulate/spikeglx-rig.ts";

const base = `wordChannel: 2
eventLines: [0, 1, 2, 3, 4, 5, 6, 7]
photodiodeLine: 8
channels:
  - { id: ch001, apChannel: 0 }
  - { id: ch002, apChannel: 5 }
`;

describe("SpikeGLX channel map", () => {
  it("parses a lab's map with the documented defaults", () => {
    const m = parseSpikeGlxMap(base);
    expect(m.probe).toBe(0);
    expect(m.wordStream).toEqual({ type: "ni", ip: 0 });
    expect(m.detection).toEqual({
      thresholdK: 4.5,
      refractoryMs: 1,
      car: "median",
      noiseWindowMs: 1000,
      noiseTimeConstantS: 30,
      noiseUpdateMs: 50,
    });
    expect(m.channels.map((c) => c.apChannel)).toEqual([0, 5]);
    // The rig emulator's map is one a lab could write.
    expect(parseSpikeGlxMap(spikeGlxRigChannelMap(4, ["car: none"])).detection.car).toBe("none");
  });

  it.each([
    [
      base.replace("apChannel: 5", "apChannel: 0"),
      "channels[1].apChannel",
      "an AP channel not mapped before",
    ],
    [base.replace("photodiodeLine: 8", "photodiodeLine: 3"), "photodiodeLine", "a line not already used"],
    [base.replace("id: ch002", "id: ch001"), "channels[1].id", "a channel id not used before"],
    [`${base}wordBytes: 2\n`, "wordBytes", "a strobeLine"],
    [base.replace("photodiodeLine: 8", "photodiodeLine: 16"), "photodiodeLine", "16"],
    [`${base}detection: { car: average }\n`, "detection.car", "median"],
  ])("refuses a wrong map, naming the field (%#)", (text, path, expected) => {
    let message = "";
    try {
      parseSpikeGlxMap(text, "map.yaml");
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain(path);
    expect(message).toContain(expected);
    expect(message).toMatch(/map\.yaml:\d+:\d+/);
  });

  it("names the flat and the noisy channels in the noise notice", () => {
    const m = parseSpikeGlxMap(
      `${base.split("channels:")[0]}channels:\n${[0, 1, 2, 3, 4].map((i) => `  - { id: ch00${i + 1}, apChannel: ${i} }`).join("\n")}\n`,
    );
    const text = noiseSummary(Float64Array.from([10, 11, 2, 9, 40]), m);
    expect(text).toContain("median 10.0");
    expect(text).toContain("range 2.0–40.0");
    expect(text).toContain("ch003 2.0");
    expect(text).toContain("ch005 40.0");
    expect(text).not.toContain("ch001 10.0");
  });
});
