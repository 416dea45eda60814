// The byte-level spikes parser against JSON.parse (V8's, the reference) + zod + packSpikes: what it accepts it must
// turn into the same float64 times, window counts and digest; everything outside its subset it must hand back
// (null) so the slow path decides.
import { describe, expect, it } from "vitest";
import { mulberry32 } from "../../analysis/random.ts";
import { SpikesParser } from "../../controller/acquisition/spikes-parser.ts";
import { packSpikes, windowTable } from "../../controller/store/packed.ts";
import { spikesMessage } from "../../controller/wire/acquisition.ts";

// Window edges on decimal values that are not exact binary fractions: a value parsed 1 ulp off lands on the
// wrong side of them.
const windows = windowTable({
  baseline: { startMs: -75.3, endMs: 25.1 },
  response: { startMs: 50.7, endMs: 250.9 },
});
const parser = new SpikesParser(windows);

function slow(text: string) {
  const m = spikesMessage.parse(JSON.parse(text));
  return packSpikes(m.seq, m.trialId, m.channels, windows);
}

function expectSame(text: string) {
  const fast = parser.parse(Buffer.from(text));
  expect(fast, text.slice(0, 80)).not.toBeNull();
  const ref = slow(text);
  expect(fast!.seq).toBe(ref.seq);
  expect(fast!.trialId).toBe(ref.trialId);
  expect(fast!.channelIds).toEqual(ref.channelIds);
  expect([...fast!.counts]).toEqual([...ref.counts]);
  expect([...fast!.offsets!]).toEqual([...ref.offsets!]);
  expect(fast!.spikes).toEqual(ref.spikes);
  expect(fast!.digest).toBe(ref.digest);
}

/** A decimal with 1–15 significant digits, in the forms bridges write (integers, fixed decimals, tiny values). */
function decimal(random: () => number): string {
  const sign = random() < 0.4 ? "-" : "";
  const kind = random();
  if (kind < 0.1) return `${sign}${Math.floor(random() * 400)}`;
  if (kind < 0.15) return `${sign}0`;
  const intDigits = Math.floor(random() * 4);
  const fracDigits = 1 + Math.floor(random() * (14 - intDigits));
  let s = intDigits === 0 ? "0" : String(1 + Math.floor(random() * 9));
  for (let i = 1; i < intDigits; i++) s += Math.floor(random() * 10);
  s += ".";
  for (let i = 0; i < fracDigits; i++) s += Math.floor(random() * 10);
  return sign + s;
}

describe("SpikesParser", () => {
  it("parses canonical messages to exactly what JSON.parse + zod + packSpikes give", () => {
    const random = mulberry32(5);
    for (let n = 0; n < 300; n++) {
      const channels: string[] = [];
      const count = Math.floor(random() * 40);
      for (let c = 0; c < count; c++) {
        const times = Array.from({ length: Math.floor(random() * 30) }, () => decimal(random));
        channels.push(`"ch-${c}_${n}":[${times.join(",")}]`);
      }
      const ws = n % 3 === 0 ? " \n\t" : "";
      const fields = [
        `"type":"spikes"`,
        `"seq":${n + 1}`,
        `"trialId":${1000 + n}`,
        `"channels":{${channels.join(`,${ws}`)}}`,
      ];
      if (n % 2) fields.reverse();
      expectSame(`${ws}{${ws}${fields.join(`${ws},${ws}`)}${ws}}${ws}`);
    }
  });

  it("gets values on the window edges right (exact decimal → double)", () => {
    const text = JSON.stringify({
      type: "spikes",
      seq: 1,
      trialId: 1,
      channels: { a: [-75.3, 25.1, 50.7, 250.9, -75.30000000001, 250.89999999999, 0.1, -0] },
    });
    const p = parser.parse(Buffer.from(text))!;
    // baseline [-75.3, 25.1): -75.3, 0.1, -0; response [50.7, 250.9): 50.7, 250.89999999999.
    expect([...p.counts]).toEqual([3, 2]);
    expectSame(text);
  });

  it("takes any spacing and key order, and empty channel lists and arrays", () => {
    expectSame('{"type":"spikes","seq":3,"trialId":9,"channels":{}}');
    expectSame('  {  "channels" : { "a" : [ ] , "b":[1] } ,"seq":3 , "trialId" :9,"type": "spikes"}\n');
  });

  it("hands a time outside the accepted span to the slow path (which words the error), and takes its edges", () => {
    const spanned = new SpikesParser(windows, { lo: -1075.3, hi: 1250.9 });
    const msg = (t: string) => `{"type":"spikes","seq":1,"trialId":2,"channels":{"a":[60,${t}]}}`;
    for (const t of ["-1075.31", "1250.91", "999999999999999", "-999999999999999"])
      expect(spanned.parse(Buffer.from(msg(t))), t).toBeNull();
    for (const t of ["-1075.3", "1250.9", "0"]) expect(spanned.parse(Buffer.from(msg(t))), t).not.toBeNull();
  });

  it("hands everything outside its subset back to the slow path", () => {
    const base = { type: "spikes", seq: 1, trialId: 2, channels: { a: [1.5] } };
    const valid = [
      '{"type":"spikes","seq":1,"trialId":2,"channels":{"a":[1e2]}}', // exponent
      '{"type":"spikes","seq":1,"trialId":2,"channels":{"a":[1.2345678901234567]}}', // 17 digits
      '{"type":"spikes","seq":1,"trialId":2,"channels":{"\\u0061":[1]}}', // escaped key
      '{"type":"spikes","seq":1,"trialId":2,"channels":{"a":[1],"a":[2]}}', // duplicate channel: JSON.parse keeps the last
      '{"type":"spikes","seq":1,"seq":1,"trialId":2,"channels":{}}', // duplicate field
    ];
    for (const text of valid) {
      expect(parser.parse(Buffer.from(text)), text).toBeNull();
      expect(() => slow(text), text).not.toThrow();
    }
    const invalid = [
      "",
      "[]",
      '{"type":"spikes","seq":1,"trialId":2,"channels":{"a":[01]}}', // leading zero: not JSON
      '{"type":"spikes","seq":1,"trialId":2,"channels":{"a":[1.]}}',
      '{"type":"spikes","seq":1,"trialId":2,"channels":{"a":[.5]}}',
      '{"type":"spikes","seq":1,"trialId":2,"channels":{"a":[-]}}',
      '{"type":"spikes","seq":1,"trialId":2,"channels":{"a":[1,]}}',
      '{"type":"spikes","seq":1,"trialId":2,"channels":{"a":[1]}} x',
      '{"type":"spikes","seq":1,"trialId":2,"channels":{"a":[1]}',
      '{"type":"spikes","seq":1,"trialId":2,"channels":{"a":["1"]}}',
      '{"type":"spikes","seq":1,"trialId":2,"channels":{"":[1]}}',
      '{"type":"spikes","seq":1,"trialId":2,"channels":{"é":[1]}}', // non-ASCII key: not a channel id
      '{"type":"spikes","seq":1,"trialId":2,"channels":{"<b>":[1]}}', // not a channel id
      '{"type":"spikes","seq":1,"trialId":2,"channels":{"-a":[1]}}', // must start with a letter or digit
      `{"type":"spikes","seq":1,"trialId":2,"channels":{"${"x".repeat(65)}":[1]}}`,
      `{"type":"spikes","seq":1,"trialId":2,"channels":{"a":[${Array(100_001).fill(1).join(",")}]}}`,
      JSON.stringify({ ...base, type: "counts" }),
      JSON.stringify({ ...base, seq: 0 }),
      JSON.stringify({ ...base, seq: 1.5 }),
      JSON.stringify({ ...base, seq: "1" }),
      JSON.stringify({ ...base, trialId: -2 }),
      JSON.stringify({ ...base, extra: 1 }),
      JSON.stringify({ type: "spikes", seq: 1, channels: {} }),
      '{"type":"spikes","seq":1,"trialId":2,"channels":{"a":[1e999]}}',
    ];
    for (const text of invalid) {
      expect(parser.parse(Buffer.from(text)), text.slice(0, 80)).toBeNull();
      expect(() => slow(text), text.slice(0, 80)).toThrow();
    }
  });

  it("keeps the 100 000-spike limit exactly", () => {
    const text = `{"type":"spikes","seq":1,"trialId":2,"channels":{"a":[${Array(100_000).fill(7).join(",")}]}}`;
    expect(parser.parse(Buffer.from(text))!.spikes!.length).toBe(100_000);
  });
});
