// compute.device at the command line (#24): on this CPU-only machine `ephysloop serve --device cuda` stops before
// the daemon starts (no database, no session), with one line that names the missing CUDA provider library and the
// command that brings it, and exit code 1 — not a stack trace, and not a failure at the day's first compute step.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CUDA_PROVIDER_LIBRARIES, ortBinaryDir } from "../../analysis/backbone/ort-device.ts";

const dir = ortBinaryDir();
const cpuOnly = dir !== null && !CUDA_PROVIDER_LIBRARIES.some((f) => existsSync(join(dir, f)));

describe.runIf(cpuOnly)("ephysloop serve --device", () => {
  it("cuda on a machine without the CUDA provider: one clear line, exit 1, nothing started", () => {
    const dataDir = mkdtempSync(join(tmpdir(), "ephys-device-cli-"));
    const bin = new URL("../../bin/ephysloop.mjs", import.meta.url).pathname;
    const r = spawnSync(
      process.execPath,
      [bin, "serve", "--device", "cuda", "--port", "0", "--data-dir", dataDir],
      { encoding: "utf8", env: { ...process.env, EPHYSLOOP_CONFIG: "" }, timeout: 60_000 },
    );
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^error EPHYS_DEVICE_UNAVAILABLE: compute\.device: cuda was asked for/);
    expect(lines[0]).toContain(join(dir!, "")); // where the libraries must go
    expect(lines[0]).toContain("libonnxruntime_providers_cuda.so");
    expect(lines[0]).toContain("ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node");
    expect(existsSync(join(dataDir, "ephysloop.db"))).toBe(false);
  });
});
