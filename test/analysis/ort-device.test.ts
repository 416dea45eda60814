// Where ONNX Runtime runs (analysis/backbone/ort-device.ts, config compute.device): the provider lists a device
// hands to ONNX Runtime, auto's order and what it passes over and why, the error for an explicit GPU that cannot
// run (naming the missing library and the command that brings it), and, on this CPU-only machine with the real
// onnxruntime-node, that the providers reach the sessions (a CUDA session is refused by ONNX Runtime itself), that
// "auto" lands on the CPU and that the CPU results are bitwise those of a session created without a device.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type * as Ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { createOnnxBackbone, ortSessionOptions } from "../../analysis/backbone/onnx-executor.ts";
import { createOnnxGradients, gradientChunkSize } from "../../analysis/backbone/onnx-gradients.ts";
import { deepestTap } from "../../analysis/backbone/onnx-graph.ts";
import { tapShape } from "../../analysis/backbone/onnx-vjp-graph.ts";
import {
  CUDA_PROVIDER_LIBRARIES,
  chooseDevice,
  type DeviceProbe,
  describeDevice,
  machineProbe,
  ortBinaryDir,
  ortProviders,
  resolveDevice,
} from "../../analysis/backbone/ort-device.ts";
import { devicePoolSize, featurePoolSize } from "../../controller/compute/feature-pool.ts";
import { asymmetricPaddingNetwork } from "./tiny-networks.ts";

type Providers = Ort.InferenceSession.ExecutionProviderConfig[];

/** A machine as the test says: which files exist, whether Vulkan's loader is there, what each provider run says. */
function fakeMachine(o: {
  files?: string[];
  vulkan?: boolean;
  runs?: Record<string, string | null>;
  platform?: string;
}): DeviceProbe & { tried: Providers[] } {
  const tried: Providers[] = [];
  return {
    platform: o.platform ?? "linux",
    arch: "x64",
    binaryDir: "/ort/bin",
    exists: (p) => (o.files ?? []).includes(p),
    vulkanLoader: () => o.vulkan ?? false,
    tried,
    async tryProviders(providers) {
      tried.push(providers);
      const first = providers[0];
      const name = typeof first === "string" ? first : first.name;
      return o.runs?.[name] ?? null;
    },
  };
}
const cudaFiles = CUDA_PROVIDER_LIBRARIES.map((f) => join("/ort/bin", f));

describe("device choice", () => {
  it("hands ONNX Runtime the device's provider, then the CPU for nodes it lacks", () => {
    expect(ortProviders("cpu")).toEqual(["cpu"]);
    expect(ortProviders("cuda")).toEqual([{ name: "cuda", deviceId: 0 }, "cpu"]);
    expect(ortProviders("webgpu")).toEqual(["webgpu", "cpu"]);
    expect(ortSessionOptions(2, true, "cuda").executionProviders).toEqual(ortProviders("cuda"));
    expect(ortSessionOptions(2).executionProviders).toEqual(["cpu"]);
  });

  it("auto on a machine without the CUDA libraries or Vulkan: the CPU, without running anything, saying why", async () => {
    const m = fakeMachine({});
    const c = await chooseDevice("auto", m);
    expect(c.device).toBe("cpu");
    expect(m.tried).toEqual([]);
    expect(c.passedOver.map((p) => p.device)).toEqual(["cuda", "webgpu"]);
    expect(c.passedOver[0].reason).toBe(
      "libonnxruntime_providers_shared.so and libonnxruntime_providers_cuda.so not in /ort/bin",
    );
    expect(c.passedOver[1].reason).toContain("libvulkan.so.1");
    expect(describeDevice(c)).toMatch(/^cpu \(auto; passed over cuda: .* webgpu: /);
  });

  it("auto tries cuda on its own provider, then webgpu, and takes the first that runs", async () => {
    const failing = fakeMachine({
      files: cudaFiles,
      vulkan: true,
      runs: { cuda: "Failed to load library libcudnn.so.9" },
    });
    const c = await chooseDevice("auto", failing);
    expect(c.device).toBe("webgpu");
    expect(failing.tried).toEqual([[{ name: "cuda", deviceId: 0 }], ["webgpu"]]);
    expect(c.passedOver).toEqual([
      { device: "cuda", reason: "the CUDA provider did not start: Failed to load library libcudnn.so.9" },
    ]);
    const gpu = fakeMachine({ files: cudaFiles, vulkan: true });
    expect((await chooseDevice("auto", gpu)).device).toBe("cuda");
    expect(gpu.tried).toHaveLength(1);
  });

  it("an explicit GPU that cannot run is an error naming what is missing and how to bring it", async () => {
    const noLibs = chooseDevice("cuda", fakeMachine({}));
    await expect(noLibs).rejects.toMatchObject({ code: "EPHYS_DEVICE_UNAVAILABLE" });
    await expect(noLibs).rejects.toThrow(/libonnxruntime_providers_cuda\.so/);
    await expect(noLibs).rejects.toThrow(/ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node/);
    await expect(noLibs).rejects.toThrow(/Microsoft\.ML\.OnnxRuntime\.Gpu\.Linux/);
    const noCudnn = chooseDevice(
      "cuda",
      fakeMachine({ files: cudaFiles, runs: { cuda: "libcudnn.so.9: nope" } }),
    );
    await expect(noCudnn).rejects.toThrow(/libcudnn\.so\.9: nope.*cuDNN 9/);
    await expect(chooseDevice("cuda", fakeMachine({ platform: "darwin" }))).rejects.toThrow(/darwin\/x64/);
    await expect(chooseDevice("webgpu", fakeMachine({}))).rejects.toThrow(/libvulkan\.so\.1.*libvulkan1/);
    await expect(
      chooseDevice(
        "webgpu",
        fakeMachine({ vulkan: true, runs: { webgpu: "Failed to get a WebGPU adapter" } }),
      ),
    ).rejects.toThrow(/WebGPU adapter/);
    await expect(chooseDevice("tpu" as "cpu", fakeMachine({}))).rejects.toMatchObject({
      code: "EPHYS_BAD_BACKBONE",
    });
    const cpu = fakeMachine({});
    expect(await chooseDevice("cpu", cpu)).toEqual({ asked: "cpu", device: "cpu", passedOver: [] });
    expect(cpu.tried).toEqual([]);
  });

  it("a GPU gets one worker and large batches; the CPU keeps its pool", () => {
    expect(devicePoolSize("cpu", "onnx", 2)).toEqual(featurePoolSize("onnx", 2));
    expect(devicePoolSize("cuda", "onnx", 16)).toEqual({ workers: 1, threadsPerWorker: 16 });
    expect(devicePoolSize("webgpu", "onnx", 2)).toEqual({ workers: 1, threadsPerWorker: 2 });
    expect(gradientChunkSize("cpu")).toBe(16);
    expect(gradientChunkSize("cuda")).toBe(64);
  });
});

// This machine: onnxruntime-node 1.30 without the CUDA provider's libraries (the project's install skips them).
const dir = ortBinaryDir();
const cpuOnly = dir !== null && !CUDA_PROVIDER_LIBRARIES.some((f) => existsSync(join(dir, f)));

describe.runIf(cpuOnly)("on this CPU-only machine, with the real onnxruntime-node", () => {
  it("runs a one-node graph on the CPU provider and is refused one on the CUDA provider", async () => {
    const ort = (await import("onnxruntime-node")) as typeof Ort;
    const probe = machineProbe(ort);
    expect(await probe.tryProviders(["cpu"])).toBeNull();
    expect(await probe.tryProviders([{ name: "cuda", deviceId: 0 }])).toMatch(/Cuda|CUDA|shared library/);
  });

  it("auto resolves to the CPU; cuda is refused with the missing library", async () => {
    const auto = await resolveDevice("auto");
    expect(auto.device).toBe("cpu");
    expect(auto.passedOver[0]).toMatchObject({ device: "cuda" });
    expect(auto.passedOver[0].reason).toContain(dir!);
    await expect(resolveDevice("cuda")).rejects.toMatchObject({ code: "EPHYS_DEVICE_UNAVAILABLE" });
  });

  it("the device's providers reach the sessions; on the CPU the results are unchanged, bit for bit", async () => {
    const { desc, weights, rand } = asymmetricPaddingNetwork();
    const tap = deepestTap(desc);
    const [n, h, w] = [2, 17, 19];
    const pixels = Float32Array.from({ length: n * h * w * 3 }, () => Math.floor(rand() * 256));
    // A CUDA session is refused by ONNX Runtime: the provider list got there.
    await expect(createOnnxBackbone(desc, weights, { tap, threads: 1, device: "cuda" })).rejects.toThrow(
      /Cuda|CUDA|shared library/,
    );
    const plain = await createOnnxBackbone(desc, weights, { tap, threads: 1 });
    const onCpu = await createOnnxBackbone(desc, weights, { tap, threads: 1, device: "cpu" });
    expect(onCpu.device).toBe("cpu");
    const a = await plain.forward(pixels, n, h, w);
    const b = await onCpu.forward(pixels, n, h, w);
    expect(Buffer.from(b.data.buffer).equals(Buffer.from(a.data.buffer))).toBe(true);
    await plain.dispose();
    await onCpu.dispose();

    const [th, tw, tc] = tapShape(desc, tap, h, w);
    const cotangents = Float32Array.from({ length: n * th * tw * tc }, () => rand() - 0.5);
    const images = { data: pixels, n, height: h, width: w };
    const gpu = await createOnnxGradients(desc, weights, { threads: 1, device: "cuda" });
    expect(gpu.summary).toMatch(/^onnx on cuda /);
    await expect(gpu.inputGradients(tap, images, cotangents, n)).rejects.toThrow(/Cuda|CUDA|shared library/);
    gpu.dispose();
    const g0 = await createOnnxGradients(desc, weights, { threads: 1 });
    const g1 = await createOnnxGradients(desc, weights, { threads: 1, device: "cpu" });
    expect(g1.summary).toMatch(/^onnx on cpu /);
    const x = await g0.inputGradients(tap, images, cotangents, n);
    const y = await g1.inputGradients(tap, images, cotangents, n);
    expect(Buffer.from(y.buffer).equals(Buffer.from(x.buffer))).toBe(true);
    g0.dispose();
    g1.dispose();
  });
});
