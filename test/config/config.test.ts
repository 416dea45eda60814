import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, ensureToken, loadConfig, resolvePaths } from "../../config/index.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "ephys-config-"));

describe("config", () => {
  it("defaults work out of the box and bind to loopback", () => {
    const c = loadConfig({ env: {} });
    expect(c.bind).toBe("127.0.0.1");
    expect(c.port).toBe(8710);
    expect(c.compute.executor).toBe("auto");
    expect(resolvePaths(c).dbPath).toMatch(/ephysloop-data\/ephysloop\.db$/);
  });

  it("layers defaults < file < environment < flags", () => {
    const dir = tmp();
    const file = join(dir, "c.yaml");
    writeFileSync(file, "port: 9000\nbind: 127.0.0.2\ndataDir: /tmp/x\ncompute:\n  executor: tfjs\n");
    expect(loadConfig({ file, env: {} })).toMatchObject({
      port: 9000,
      bind: "127.0.0.2",
      compute: { executor: "tfjs", tfjsBackend: "auto" },
    });
    const env = { EPHYSLOOP_PORT: "9100", EPHYSLOOP_BACKEND: "wasm" };
    expect(loadConfig({ file, env })).toMatchObject({
      port: 9100,
      bind: "127.0.0.2",
      compute: { executor: "tfjs", tfjsBackend: "wasm" },
    });
    expect(loadConfig({ file, env, flags: { port: "9200", "compute.executor": "onnx" } })).toMatchObject({
      port: 9200,
      compute: { executor: "onnx", tfjsBackend: "wasm" },
    });
  });

  it("errors name the key, the value and what was expected", () => {
    expect(() => loadConfig({ env: { EPHYSLOOP_PORT: "70000" } })).toThrow(
      /config port: .*65535.*found 70000/,
    );
    expect(() => loadConfig({ env: { EPHYSLOOP_EXECUTOR: "gpu" } })).toThrow(
      /compute\.executor.*"auto"\|"onnx"\|"tfjs".*found "gpu"/,
    );
    expect(() => loadConfig({ env: { EPHYSLOOP_DEVICE: "gpu" } })).toThrow(
      /compute\.device.*"auto"\|"cpu"\|"cuda"\|"webgpu".*found "gpu"/,
    );
    const dir = tmp();
    const file = join(dir, "c.yaml");
    writeFileSync(file, "prot: 1\n");
    expect(() => loadConfig({ file, env: {} })).toThrow(/prot/);
    try {
      loadConfig({ env: { EPHYSLOOP_PORT: "x" } });
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).code).toBe("EPHYS_BAD_CONFIG");
      expect((e as ConfigError).key).toBe("port");
    }
  });

  it("compute.device: auto by default; the environment and --device set it", () => {
    expect(loadConfig({ env: {} }).compute.device).toBe("auto");
    expect(loadConfig({ env: { EPHYSLOOP_DEVICE: "cuda" } }).compute.device).toBe("cuda");
    expect(
      loadConfig({ env: { EPHYSLOOP_DEVICE: "cuda" }, flags: { "compute.device": "cpu" } }).compute.device,
    ).toBe("cpu");
  });

  it("weights.kind: standard by default, robust only with the lab's own weights.path", () => {
    expect(loadConfig({ env: {} }).weights.kind).toBe("standard");
    const env = { EPHYSLOOP_WEIGHTS: "/w/robust.safetensors", EPHYSLOOP_WEIGHTS_KIND: "robust" };
    expect(loadConfig({ env }).weights).toMatchObject({ path: "/w/robust.safetensors", kind: "robust" });
    expect(() => loadConfig({ env: { EPHYSLOOP_WEIGHTS_KIND: "robust" } })).toThrow(
      "config weights.kind: expected weights.path with it: the embedded Keras ResNet-50 is standard",
    );
    expect(() => loadConfig({ env: { ...env, EPHYSLOOP_WEIGHTS_KIND: "adversarial" } })).toThrow(
      /config weights\.kind: .*"standard"\|"robust".*found "adversarial"/,
    );
  });

  it("generates a token into the data dir on first run and keeps it", () => {
    const dataDir = tmp();
    const c = loadConfig({ env: { EPHYSLOOP_DATA_DIR: dataDir } });
    const token = ensureToken(c);
    expect(token.length).toBeGreaterThanOrEqual(32);
    expect(readFileSync(join(dataDir, "token"), "utf8").trim()).toBe(token);
    expect(statSync(join(dataDir, "token")).mode & 0o777).toBe(0o600);
    expect(ensureToken(c)).toBe(token);
    expect(ensureToken({ ...c, token: "x".repeat(20) })).toBe("x".repeat(20));
  });
});
