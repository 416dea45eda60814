// Where ONNX Runtime runs (config compute.device, --device): the CPU, an NVIDIA GPU through the CUDA execution
// provider, or a GPU through the WebGPU provider. onnxruntime-node 1.30's Linux x64 binding has both GPU providers
// built in, but the CUDA provider's libraries are not in the npm package (its install step fetches them from NuGet,
// which this project's installs skip), and WebGPU on Linux runs on Vulkan. So a device is tried cheapest check
// first: the files it needs, then a one-node graph run on it alone. "auto" takes the first of cuda, webgpu, cpu that
// runs; an explicit device that cannot run is an error naming what is missing and how to bring it.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import onnxProto from "onnx-proto";
import type * as Ort from "onnxruntime-node";
import { BackboneError } from "./errors.ts";
import { modelProto, valueInfo } from "./onnx-graph.ts";

export const COMPUTE_DEVICES = ["auto", "cpu", "cuda", "webgpu"] as const;
export type ComputeDevice = (typeof COMPUTE_DEVICES)[number];
export type OrtDevice = Exclude<ComputeDevice, "auto">;

/** The order "auto" tries, fastest first. */
export const AUTO_ORDER: readonly OrtDevice[] = ["cuda", "webgpu", "cpu"];

/** The execution providers a session on `device` gets: the GPU's, then the CPU for any node it lacks. */
export function ortProviders(device: OrtDevice): Ort.InferenceSession.ExecutionProviderConfig[] {
  if (device === "cuda") return [{ name: "cuda", deviceId: 0 }, "cpu"];
  if (device === "webgpu") return ["webgpu", "cpu"];
  return ["cpu"];
}

/** The CUDA provider's libraries onnxruntime-node loads from its binding's folder (the third, TensorRT, is optional). */
export const CUDA_PROVIDER_LIBRARIES = [
  "libonnxruntime_providers_shared.so",
  "libonnxruntime_providers_cuda.so",
] as const;

/** How a lab brings the CUDA provider's libraries (README "On a GPU workstation"). */
export function cudaInstallHint(binaryDir: string): string {
  return (
    "bring them with `ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node` (downloads from NuGet), or " +
    "offline: copy libonnxruntime_providers_shared.so, libonnxruntime_providers_cuda.so and " +
    "libonnxruntime_providers_tensorrt.so from runtimes/linux-x64/native/ of the NuGet package " +
    `Microsoft.ML.OnnxRuntime.Gpu.Linux of onnxruntime-node's version into ${binaryDir}`
  );
}

/** What deciding a device needs from the machine; tests give their own. */
export interface DeviceProbe {
  platform: string;
  arch: string;
  /** onnxruntime-node's native binding folder (bin/napi-v6/<platform>/<arch>), or null when not installed. */
  binaryDir: string | null;
  exists(path: string): boolean;
  /** Whether the Vulkan loader (libvulkan.so.1) is on this Linux machine: WebGPU runs on it. */
  vulkanLoader(): boolean;
  /** Run a one-node graph on exactly these providers: null when it ran, else ONNX Runtime's message. */
  tryProviders(providers: Ort.InferenceSession.ExecutionProviderConfig[]): Promise<string | null>;
}

export interface Unavailable {
  reason: string;
  fix: string;
}

/** Why `device` cannot run here, or null when a one-node graph ran on it. */
export async function deviceUnavailable(device: OrtDevice, probe: DeviceProbe): Promise<Unavailable | null> {
  if (device === "cpu") return null;
  const dir = probe.binaryDir;
  if (dir === null)
    return { reason: "onnxruntime-node is not installed", fix: "run `npm install` in the project" };
  if (device === "cuda") {
    if (probe.platform !== "linux" || probe.arch !== "x64")
      return {
        reason: `onnxruntime-node has its CUDA provider for linux/x64 here; this machine is ${probe.platform}/${probe.arch}`,
        fix: "use compute.device cpu (or webgpu)",
      };
    const missing = CUDA_PROVIDER_LIBRARIES.filter((f) => !probe.exists(join(dir, f)));
    if (missing.length > 0)
      return { reason: `${missing.join(" and ")} not in ${dir}`, fix: cudaInstallHint(dir) };
    const error = await probe.tryProviders([{ name: "cuda", deviceId: 0 }]);
    return error === null
      ? null
      : {
          reason: `the CUDA provider did not start: ${error}`,
          fix:
            "onnxruntime-node 1.30's CUDA provider needs an NVIDIA driver, CUDA 12 (cudart, cublas, cublasLt, " +
            `cufft, curand) and cuDNN 9 on the library path: \`ldd ${join(dir, "libonnxruntime_providers_cuda.so")} | grep 'not found'\` names what is missing`,
        };
  }
  if (probe.platform === "linux" && !probe.vulkanLoader())
    return {
      reason: "libvulkan.so.1 (the Vulkan loader WebGPU runs on under Linux) is not installed",
      fix: "install the Vulkan loader and the GPU's Vulkan driver (Debian: apt-get install libvulkan1 and the vendor's driver)",
    };
  const error = await probe.tryProviders(["webgpu"]);
  return error === null
    ? null
    : {
        reason: `the WebGPU provider did not start: ${error}`,
        fix: "check the GPU's Vulkan driver (vulkaninfo)",
      };
}

export interface DeviceChoice {
  /** What was asked (config compute.device). */
  asked: ComputeDevice;
  /** Where the sessions run. */
  device: OrtDevice;
  /** Devices "auto" tried before, with why each could not run. */
  passedOver: Array<{ device: OrtDevice; reason: string }>;
}

/** The device for `asked`: "auto" the first of AUTO_ORDER that runs; an explicit one that cannot is an error. */
export async function chooseDevice(asked: ComputeDevice, probe: DeviceProbe): Promise<DeviceChoice> {
  if (!COMPUTE_DEVICES.includes(asked))
    throw new BackboneError(
      "EPHYS_BAD_BACKBONE",
      `compute.device: expected one of ${COMPUTE_DEVICES.join(", ")}; found ${JSON.stringify(asked)}`,
    );
  if (asked !== "auto") {
    const why = await deviceUnavailable(asked, probe);
    if (why)
      throw new BackboneError(
        "EPHYS_DEVICE_UNAVAILABLE",
        `compute.device: ${asked} was asked for, but it cannot run here: ${why.reason}; ${why.fix}`,
      );
    return { asked, device: asked, passedOver: [] };
  }
  const passedOver: DeviceChoice["passedOver"] = [];
  for (const device of AUTO_ORDER) {
    const why = await deviceUnavailable(device, probe);
    if (why === null) return { asked, device, passedOver };
    passedOver.push({ device, reason: why.reason });
  }
  return { asked, device: "cpu", passedOver }; // not reached: the CPU always runs
}

/** One line for the log and the artifacts: the device, and what auto passed over. */
export function describeDevice(c: DeviceChoice): string {
  if (c.asked !== "auto") return c.device;
  const over = c.passedOver.map((p) => `${p.device}: ${p.reason}`).join("; ");
  return `${c.device} (auto${over ? `; passed over ${over}` : ""})`;
}

const chosen = new Map<ComputeDevice, Promise<DeviceChoice>>();

/**
 * The device for `asked` on this machine, decided once per thread. Where onnxruntime-node does not load, the tfjs
 * path runs and "auto" means the CPU; an explicit GPU is then an error.
 */
export function resolveDevice(asked: ComputeDevice = "auto"): Promise<DeviceChoice> {
  let c = chosen.get(asked);
  if (c === undefined) {
    c = import("onnxruntime-node").then(
      (ort) => chooseDevice(asked, machineProbe(ort as typeof Ort)),
      (e: unknown) => {
        if (asked === "auto" || asked === "cpu") return { asked, device: "cpu" as const, passedOver: [] };
        throw new BackboneError(
          "EPHYS_DEVICE_UNAVAILABLE",
          `compute.device: ${asked} was asked for, but onnxruntime-node does not load here: ${(e as Error).message.split("\n")[0]}`,
        );
      },
    );
    chosen.set(asked, c);
    c.catch(() => chosen.delete(asked)); // a failed decision is retried (a lab may fix it and try again)
  }
  return c;
}

/** A graph of one Relu: [1, 4] → [1, 4]. */
function probeModel(): Uint8Array {
  const m = modelProto(
    "device-probe",
    [{ opType: "Relu", input: ["x"], output: ["y"] }],
    [],
    [valueInfo("x", [1, 4])],
    [valueInfo("y", [1, 4])],
  );
  return onnxProto.onnx.ModelProto.encode(m).finish();
}

const require = createRequire(import.meta.url);

/** onnxruntime-node's native binding folder, as its own loader computes it (dist/binding.js). */
export function ortBinaryDir(platform = process.platform, arch = process.arch): string | null {
  try {
    const root = dirname(require.resolve("onnxruntime-node/package.json"));
    return join(root, "bin", "napi-v6", platform, arch);
  } catch {
    return null;
  }
}

/** The Vulkan loader in the usual Linux library folders (Debian multiarch, other distributions, /usr/local). */
function hasVulkanLoader(exists: (p: string) => boolean): boolean {
  const dirs = [
    `/usr/lib/${process.arch === "arm64" ? "aarch64" : "x86_64"}-linux-gnu`,
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
    ...(process.env.LD_LIBRARY_PATH ?? "").split(":").filter(Boolean),
  ];
  return dirs.some((d) => exists(join(d, "libvulkan.so.1")));
}

/** This machine, with ONNX Runtime `ort` for the one-node runs. */
export function machineProbe(ort: typeof Ort): DeviceProbe {
  return {
    platform: process.platform,
    arch: process.arch,
    binaryDir: ortBinaryDir(),
    exists: existsSync,
    vulkanLoader: () => hasVulkanLoader(existsSync),
    async tryProviders(providers) {
      try {
        const session = await ort.InferenceSession.create(probeModel(), {
          executionProviders: providers,
          logSeverityLevel: 4,
        });
        try {
          const x = new ort.Tensor("float32", Float32Array.from([-1, 2, -3, 4]), [1, 4]);
          const y = (await session.run({ x })).y.data as Float32Array;
          if (!(y[0] === 0 && y[1] === 2 && y[2] === 0 && y[3] === 4))
            return `the one-node graph gave [${[...y].join(", ")}]; expected [0, 2, 0, 4]`;
          return null;
        } finally {
          await session.release();
        }
      } catch (e) {
        return ((e as Error).message ?? String(e)).split("\n")[0].slice(0, 400);
      }
    },
  };
}
