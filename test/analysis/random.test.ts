// analysis/random: mulberry32 and the Fisher–Yates shuffle against the Python port in stats_reference.py.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { mulberry32, randomInt, shuffleInPlace } from "../../analysis/random.ts";

const fixture = JSON.parse(
  readFileSync(new URL("../fixtures/stats/stats_reference.json", import.meta.url), "utf8"),
) as {
  randomStreams: { seed: number; values: number[] }[];
  randomShuffles: { seed: number; n: number; orders: number[][] };
};

describe("mulberry32", () => {
  it("reproduces the reference streams bit for bit (seed taken modulo 2^32)", () => {
    for (const { seed, values } of fixture.randomStreams) {
      const random = mulberry32(seed);
      expect(values.map(() => random())).toEqual(values);
    }
  });
  it("stays in [0, 1) with a plausible mean", () => {
    const random = mulberry32(99);
    let sum = 0;
    for (let i = 0; i < 10_000; i++) {
      const u = random();
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
      sum += u;
    }
    expect(Math.abs(sum / 10_000 - 0.5)).toBeLessThan(0.02);
  });
  it("rejects a non-integer seed", () => {
    expect(() => mulberry32(1.5)).toThrow(expect.objectContaining({ code: "EPHYS_BAD_SEED" }));
  });
});

describe("shuffleInPlace / randomInt", () => {
  it("reproduces the reference shuffles", () => {
    const { seed, n, orders } = fixture.randomShuffles;
    const random = mulberry32(seed);
    for (const order of orders) {
      expect(
        shuffleInPlace(
          Array.from({ length: n }, (_, i) => i),
          random,
        ),
      ).toEqual(order);
    }
  });
  it("randomInt stays in [0, n)", () => {
    const random = mulberry32(1);
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) seen.add(randomInt(random, 7));
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });
});
