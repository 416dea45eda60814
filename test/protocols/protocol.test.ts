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
    expect(protocol.selection.retestCount).toBe(75);
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
