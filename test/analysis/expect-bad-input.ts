// Asserts that a statistics call throws EPHYS_BAD_STATS_INPUT naming the argument (the suites of analysis/stats and
// analysis/fragments share it).
import { expect } from "vitest";
import { BAD_STATS_INPUT } from "../../analysis/stats/index.ts";

export function expectBadInput(f: () => unknown, argument: string): void {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(Error);
  expect(caught).toMatchObject({ code: BAD_STATS_INPUT, argument });
}
