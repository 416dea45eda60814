// Rig box protocol version 2 (controller/wire/rig-lines.ts): the box's new lines from fixtures, and the host's
// new commands exactly as the firmware's parser (firmware/rigbox/src/commands.c) reads them.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  type BoxLine,
  boxNumber,
  formatBoxLine,
  formatHostLine,
  LineError,
  parseBoxLine,
} from "../../controller/wire/rig-lines.ts";

type Case = { raw: string; parsed?: BoxLine; error?: string };
const cases: Case[] = readFileSync(new URL("../fixtures/rig/box-lines-v2.jsonl", import.meta.url), "utf8")
  .split("\n")
  .filter((l) => l.trim() !== "")
  .map((l) => JSON.parse(l) as Case);

describe("box → host lines, version 2", () => {
  for (const c of cases) {
    if (c.parsed)
      it(`parses ${JSON.stringify(c.raw)}`, () => {
        expect(parseBoxLine(c.raw)).toEqual(c.parsed);
        const again = formatBoxLine(c.parsed!);
        expect(parseBoxLine(again.slice(0, -1))).toEqual(c.parsed);
      });
    else
      it(`rejects ${JSON.stringify(c.raw)} naming the expectation`, () => {
        let err: unknown;
        try {
          parseBoxLine(c.raw);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(LineError);
        expect((err as LineError).code).toBe("EPHYS_BAD_SERIAL_LINE");
        expect((err as LineError).message).toContain(`expected ${c.error}`);
      });
  }

  it("formats the box's degrees with two decimals, as the firmware does", () => {
    expect(formatBoxLine({ kind: "eye", xDeg: -0.004, yDeg: 12.345, boxMs: 5, xMv: 1, yMv: 2 })).toBe(
      "EYE 0.00 12.35 5 1 2\n",
    );
  });
});

describe("host → box commands, version 2", () => {
  it("writes each command as the firmware parses it", () => {
    expect(formatHostLine({ kind: "hello" })).toBe("HELLO\n");
    expect(formatHostLine({ kind: "cal", map: [10, 0, -25, 0, 10.5, -26.25] })).toBe(
      "CAL 10 0 -25 0 10.5 -26.25\n",
    );
    expect(formatHostLine({ kind: "win", xDeg: 0, yDeg: -1.5, radiusDeg: 2 })).toBe("WIN 0 -1.5 2\n");
    expect(formatHostLine({ kind: "win", xDeg: 0, yDeg: 0, radiusDeg: 2, samples: 5 })).toBe("WIN 0 0 2 5\n");
    expect(formatHostLine({ kind: "stream", everyMs: 20 })).toBe("STREAM 20\n");
    expect(formatHostLine({ kind: "pdthr", onMv: 2000, offMv: 1000 })).toBe("PDTHR 2000 1000\n");
  });

  it("keeps 7 significant digits and never writes -0", () => {
    expect(boxNumber(1 / 3)).toBe("0.3333333");
    expect(boxNumber(-0)).toBe("0");
    expect(boxNumber(-1e-9)).toBe("-1e-9");
    expect(Number.parseFloat(boxNumber(123456.789))).toBeCloseTo(123456.8, 6);
  });
});
