// Rig box line protocol (controller/wire/rig-lines.ts) from line fixtures; no socket.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  type BoxLine,
  formatBoxLine,
  formatHostLine,
  type HostLine,
  LineError,
  parseBoxLine,
  parseHostLine,
} from "../../controller/wire/rig-lines.ts";

type Case<T> = { raw: string; parsed?: T; error?: string };

function fixture<T>(name: string): Case<T>[] {
  const text = readFileSync(new URL(`../fixtures/rig/${name}`, import.meta.url), "utf8");
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Case<T>);
}

function parseError(parse: () => unknown): LineError {
  try {
    parse();
  } catch (err) {
    if (err instanceof LineError) return err;
    throw err;
  }
  throw new Error("expected a LineError, got a parsed line");
}

describe("box → host lines", () => {
  const cases = fixture<BoxLine>("box-lines.jsonl");
  it("has both good and bad lines in the fixture", () => {
    expect(cases.filter((c) => c.parsed).length).toBeGreaterThan(5);
    expect(cases.filter((c) => c.error).length).toBeGreaterThan(5);
  });
  for (const c of cases) {
    if (c.parsed) {
      it(`parses ${JSON.stringify(c.raw)}`, () => {
        expect(parseBoxLine(c.raw)).toEqual(c.parsed);
      });
    } else {
      it(`rejects ${JSON.stringify(c.raw)} naming the expectation`, () => {
        const err = parseError(() => parseBoxLine(c.raw));
        expect(err.code).toBe("EPHYS_BAD_SERIAL_LINE");
        expect(err.message).toContain(`expected ${c.error}`);
      });
    }
  }
  it("round-trips every good line through formatBoxLine", () => {
    for (const c of cases.filter((x) => x.parsed)) {
      const line = formatBoxLine(c.parsed!);
      expect(line.endsWith("\n")).toBe(true);
      expect(parseBoxLine(line.slice(0, -1))).toEqual(c.parsed);
    }
  });
});

describe("host → box lines", () => {
  const cases = fixture<HostLine>("host-lines.jsonl");
  for (const c of cases) {
    if (c.parsed) {
      it(`parses ${JSON.stringify(c.raw)}`, () => {
        expect(parseHostLine(c.raw)).toEqual(c.parsed);
      });
    } else {
      it(`rejects ${JSON.stringify(c.raw)} naming the expectation`, () => {
        const err = parseError(() => parseHostLine(c.raw));
        expect(err.message).toContain(`expected ${c.error}`);
      });
    }
  }
  it("formats host lines the box parses back", () => {
    for (const c of cases.filter((x) => x.parsed)) {
      expect(parseHostLine(formatHostLine(c.parsed!).trimEnd())).toEqual(c.parsed);
    }
    expect(formatHostLine({ kind: "reward", ms: 12.6 })).toBe("REWARD 13\n");
  });
});
