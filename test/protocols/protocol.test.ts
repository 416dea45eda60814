import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { validateProtocolFile } from "../../controller/commands/validate.ts";
import { loadProtocol, parseProtocol } from "../../protocols/load.ts";
import { SourceError } from "../../protocols/yaml-source.ts";

const bodyPatch = readFileSync("protocols/body-patch.yaml", "utf8");

function problemsOf(text: string) {
  try {
    parseProtocol(text, "p.yaml");
  } catch (e) {
    if (e instanceof SourceError) return e.problems;
    throw e;
  }
  throw new Error("expected the protocol to be rejected");
}

/** Line (1-based) of the first line containing `needle`. */
const lineOf = (text: string, needle: string) => text.split("\n").findIndex((l) => l.includes(needle)) + 1;

describe("protocol files", () => {
  it("the shipped protocols are valid and carry the paper's numbers", () => {
    const { protocol, sha256 } = loadProtocol("protocols/body-patch.yaml");
    expect(protocol.presentation).toMatchObject({ repetitions: 8, stimulusMs: 200, isiMs: 250 });
    expect(protocol.windows.baseline).toEqual({ startMs: -75, endMs: 25 });
    expect(protocol.windows.response).toEqual({ startMs: 50, endMs: 250 });
    expect(protocol.model).toMatchObject({
      layer: "layer4.1",
      learningRate: 2e-3,
      epochs: 2500,
      split: { train: 400, validation: 50, test: 25 },
      augmentation: { silhouettes: true },
    });
    expect(protocol.model.penalty).toEqual({ kind: "l1/2", weight: 6 });
    expect(protocol.selection).toMatchObject({ topObjects: 3, controlTop: 3, retestCount: 75 });
    expect(protocol.checks).toMatchObject({
      stabilityMinR: 0.6,
      responsivenessMinRate: 5,
      splitHalfMinR: 0.5,
      kruskalWallisMaxP: 0.01,
    });
    expect(protocol.visualization).toMatchObject({ topObjects: 5, topBodies: 15, epsilon: 0.01 });
    expect(sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(loadProtocol("protocols/demo.yaml").protocol.simulation?.channels).toBeGreaterThan(0);
  });

  it.each([
    [
      "stimulusMs: 200 ",
      "stimulusMs: fast ",
      "presentation.stimulusMs",
      "a number of milliseconds",
      '"fast"',
    ],
    ["isiMs: 250 ", "isiMs: -3 ", "presentation.isiMs", ">=0", "-3"],
    [
      "role: control",
      "role: kontrol",
      "stimulusSets[2].role",
      "one of preferred, object, control",
      '"kontrol"',
    ],
    ["epochs: 2500", "epochs: 2.5", "model.epochs", "whole number", "2.5"],
    ["stabilityMinR: 0.6 ", "stabilityMinR: 3 ", "checks.stabilityMinR", "<=1", "3"],
    ["layer: layer4.1 ", "layer: conv5 ", "model.layer", "torchvision tap name", '"conv5"'],
    [
      "baseline: { startMs: -75, endMs: 25 }",
      "baseline: { startMs: 75, endMs: 25 }",
      "windows.baseline.endMs",
      "endMs > startMs",
      '{"startMs":75,"endMs":25}',
    ],
    ["epsilon: 0.01 ", "epsilon: 0 ", "visualization.epsilon", ">0", "0"],
  ])(
    "a broken %s is reported with its path, line, column, value and expectation",
    (from, to, path, expected, found) => {
      const text = bodyPatch.replace(from, to);
      expect(text).not.toBe(bodyPatch);
      const problems = problemsOf(text);
      const p = problems.find((x) => x.path === path);
      expect(p, JSON.stringify(problems)).toBeDefined();
      expect(p!.line).toBe(lineOf(text, to.trim().split(" ")[0] === "baseline:" ? "baseline:" : to.trim()));
      expect(p!.column).toBeGreaterThan(1);
      expect(p!.expected).toContain(expected);
      expect(p!.found).toBe(found);
    },
  );

  it("refuses a selection whose per-stimulus selectivity test can never reach α, pointing at the α", () => {
    // 9 objects against 1 control body: the smallest two-sided Mann-Whitney p is 2 / C(10, 1) = 0.2.
    const text = bodyPatch.replace(
      /controlTop: 3 .*\n {2}controlBottom: 3\n {2}controlMostSimilar: 3/,
      "controlTop: 1\n  controlBottom: 0\n  controlMostSimilar: 0",
    );
    expect(text).not.toBe(bodyPatch);
    const p = problemsOf(text).find((x) => x.path === "checks.selectivityAlpha");
    expect(p).toBeDefined();
    expect(p!.line).toBe(lineOf(text, "selectivityAlpha:"));
    expect(p!.expected).toContain("an α above 0.200");
    expect(p!.found).toBe("0.05");
    // 4 against 4 reach 0.029 < 0.05: accepted.
    const four = bodyPatch
      .replace(
        /controlTop: 3 .*\n {2}controlBottom: 3\n {2}controlMostSimilar: 3/,
        "controlTop: 4\n  controlBottom: 0\n  controlMostSimilar: 0",
      )
      .replace(
        /topObjects: 3 .*\n {2}bottomObjects: 3 .*\n {2}mostSimilarObjects: 3/,
        "topObjects: 4\n  bottomObjects: 0\n  mostSimilarObjects: 0",
      );
    expect(() => parseProtocol(four, "p.yaml")).not.toThrow();
  });

  it("reports unknown keys, missing sections and YAML syntax errors", () => {
    const typo = problemsOf(bodyPatch.replace("isiMs: 250", "isiMS: 250"));
    expect(typo.find((p) => p.path === "presentation.isiMS")?.found).toContain("unknown key");
    expect(typo.find((p) => p.path === "presentation.isiMs")?.expected).toContain("required");
    const missing = problemsOf(bodyPatch.replace(/^checks:[\s\S]*?\n\n/m, ""));
    expect(missing.find((p) => p.path === "checks")?.expected).toContain("required");
    const syntax = problemsOf("version: 1\nname: [unclosed\n");
    expect(syntax[0].found).toBe("invalid YAML");
    expect(syntax[0].line).toBeGreaterThanOrEqual(2);
  });

  it("validate checks the manifests and the split against the preferred images", () => {
    expect(validateProtocolFile("protocols/demo.yaml")).toMatchObject({ ok: true, errors: [] });
    const bp = validateProtocolFile("protocols/body-patch.yaml");
    expect(bp.ok).toBe(true);
    expect(bp.warnings.join("\n")).toContain("stimulusSets[0].manifest");
  });
});
