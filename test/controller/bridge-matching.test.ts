// The bridge core's pure parts: event words from TTL line changes (with and without a strobe) and the in-order
// pairing of onsets with announced trials under dropped, extra and out-of-order codes.
import { describe, expect, it } from "vitest";
import { EventWordDecoder } from "../../controller/bridges/core/event-words.ts";
import { TrialMatcher } from "../../controller/bridges/core/trial-matcher.ts";

const trial = (trialId: number, eventCode: number) => ({ trialId, eventCode, stimulusId: `s${eventCode}` });
const at = (sample: number, wallMs = 0) => ({ sample, wallMs });

describe("event words", () => {
  it("reads the word after every change at one sample, when it leaves zero; photodiode edges at once", () => {
    const d = new EventWordDecoder({ eventLines: [0, 1, 2, 3], photodiodeLine: 8 });
    const out = [
      ...d.line("a", 100, 10, 0, true),
      ...d.line("a", 100, 10, 2, true), // code 5 complete only after both lines at sample 10
      ...d.line("pd", 104, 15, 8, true),
      ...d.line("a", 100, 20, 0, false), // 5 → 4: not from zero, no new word
      ...d.line("a", 100, 30, 2, false),
      ...d.line("a", 100, 40, 1, true),
      ...d.advance(41),
    ];
    expect(out).toEqual([
      { kind: "word", sample: 10, code: 5 },
      { kind: "photodiode", sample: 15, rising: true },
      { kind: "word", sample: 40, code: 2 },
    ]);
    // The binary format's whole words give the same.
    const b = new EventWordDecoder({ eventLines: [0, 1, 2, 3] });
    expect([...b.wholeWord("a", 100, 10, 1n), ...b.wholeWord("a", 100, 10, 5n), ...b.advance(11)]).toEqual([
      { kind: "word", sample: 10, code: 5 },
    ]);
  });

  it("with a strobe, reads the lines when the strobe rises", () => {
    const d = new EventWordDecoder({ eventLines: [0, 1], strobeLine: 7 });
    const out = [
      ...d.line("a", 1, 10, 0, true),
      ...d.line("a", 1, 11, 1, true),
      ...d.line("a", 1, 12, 7, true),
      ...d.advance(13),
    ];
    expect(out).toEqual([{ kind: "word", sample: 12, code: 3 }]);
  });

  it("with two bytes per code (the rig-box firmware), pairs strobes high byte first; a lone high byte expires", () => {
    const d = new EventWordDecoder({
      eventLines: [0, 1, 2, 3, 4, 5, 6, 7],
      strobeLine: 8,
      wordBytes: 2,
      maxByteGapSamples: 30,
    });
    const strobe = (sample: number, byte: number) => [
      ...d.wholeWord("a", 1, sample, BigInt(byte)),
      ...d.wholeWord("a", 1, sample + 1, BigInt(byte | 0x100)),
      ...d.wholeWord("a", 1, sample + 7, BigInt(byte)),
    ];
    const out = [
      ...strobe(100, 0x01), // 300 = 0x012c: high byte 1 …
      ...strobe(112, 0x2c), // … low byte 0x2c
      ...strobe(200, 0x00), // 7: a zero high byte is a byte like any other
      ...strobe(212, 0x07),
      ...strobe(400, 0x05), // a high byte whose low byte never came (lost strobe) …
      ...strobe(600, 0x00), // … is dropped after 30 samples: this is the next code's high byte
      ...strobe(612, 0x09),
      ...d.advance(700),
    ];
    expect(out).toEqual([
      { kind: "word", sample: 101, code: 300 },
      { kind: "word", sample: 201, code: 7 },
      { kind: "word", sample: 601, code: 9 },
    ]);
  });
});

describe("trial matching", () => {
  const matcher = () => new TrialMatcher({ sampleRate: 1000, maxOnsetDelayMs: 100, graceMs: 50 });

  it("pairs in order; a dropped code makes its trial missing, never shifts the next ones", () => {
    const m = matcher();
    m.announce(trial(1, 7), at(0));
    m.announce(trial(2, 9), at(1));
    m.announce(trial(3, 7), at(2));
    const out = m.onset(9, at(5)); // trial 1's code 7 never came
    expect(out.map((o) => [o.kind, "trial" in o ? o.trial.trialId : 0])).toEqual([
      ["missing", 1],
      ["paired", 2],
    ]);
    expect(m.onset(7, at(8))).toEqual([{ kind: "paired", trial: trial(3, 7), sample: 8 }]);
  });

  it("reports an extra code after the grace period, and pairs a late announcement within it", () => {
    const m = matcher();
    expect(m.onset(42, at(10, 0))).toEqual([]);
    expect(m.tick(at(40, 40))).toEqual([]);
    expect(m.tick(at(70, 70))).toMatchObject([{ kind: "extra", code: 42, sample: 10 }]);
    expect(m.onset(5, at(100, 100))).toEqual([]);
    expect(m.announce(trial(4, 5), at(101, 101))).toEqual([
      { kind: "paired", trial: trial(4, 5), sample: 100 },
    ]);
  });

  it("a spurious code equal to a later trial's: the late true code is out of order and revokes that pairing", () => {
    const m = matcher();
    m.announce(trial(1, 3), at(0));
    m.announce(trial(2, 6), at(1));
    const first = m.onset(6, at(5)); // spurious 6 arrives before trial 1's 3
    expect(first.map((o) => o.kind)).toEqual(["missing", "paired"]);
    expect(m.onset(3, at(6))).toMatchObject([{ kind: "out-of-order", trial: { trialId: 1 }, revoke: 2 }]);
  });

  it("a trial whose code never comes is missing once both clocks passed the limit", () => {
    const m = matcher();
    m.announce(trial(1, 3), at(0, 0));
    expect(m.tick(at(500, 50))).toEqual([]); // acquisition clock past, wall clock not (a sped-up rig)
    expect(m.tick(at(500, 150))).toMatchObject([{ kind: "missing", trial: { trialId: 1 } }]);
  });
});
