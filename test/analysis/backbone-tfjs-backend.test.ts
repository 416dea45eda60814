import { existsSync } from "node:fs";
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { selectTfjsBackend, wasmBinariesFolder } from "../../analysis/backbone/tfjs-backend.ts";

describe("selectTfjsBackend", () => {
  it("auto: passes over tfjs-node-gpu and tfjs-node when absent or stubbed, and runs wasm", async () => {
    const selected = await selectTfjsBackend("auto");
    expect(tf.getBackend()).toBe(selected.name);
    if (selected.name === "wasm") {
      expect(selected.skipped).toHaveLength(2);
      expect(selected.skipped[0]).toMatch(/^@tensorflow\/tfjs-node-gpu: /);
      expect(selected.skipped[1]).toMatch(/^@tensorflow\/tfjs-node: /);
    } else {
      expect(selected.name).toBe("tensorflow"); // a machine with tfjs-node(-gpu) really installed
    }
    const y = tf.tidy(() => tf.sum(tf.mul(tf.tensor1d([1, 2, 3]), tf.tensor1d([4, 5, 6]))));
    expect(await y.data()).toEqual(new Float32Array([32]));
    y.dispose();
  });

  it("finds the wasm binaries in the package's dist folder", () => {
    expect(existsSync(`${wasmBinariesFolder()}tfjs-backend-wasm-simd.wasm`)).toBe(true);
  });

  it("forces cpu and wasm, and rejects unknown choices with EPHYS_BAD_BACKBONE", async () => {
    expect(await selectTfjsBackend("cpu")).toEqual({ name: "cpu", choice: "cpu", skipped: [] });
    expect((await selectTfjsBackend("wasm")).name).toBe("wasm");
    await expect(selectTfjsBackend("gpu" as "auto")).rejects.toMatchObject({
      code: "EPHYS_BAD_BACKBONE",
      message: expect.stringContaining('"gpu"'),
    });
  });

  it("a forced tensorflow backend either runs or says why not", async () => {
    const outcome = await selectTfjsBackend("tensorflow").then(
      (s) => s.name,
      (e: { code: string; message: string }) => e,
    );
    if (typeof outcome === "string") expect(outcome).toBe("tensorflow");
    else
      expect(outcome).toMatchObject({
        code: "EPHYS_BAD_BACKBONE",
        message: expect.stringMatching(/tfjs-node/),
      });
  });
});
