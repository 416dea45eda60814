// One typed Config for the daemon and the CLI: where it listens, where it stores, how it computes, the rig wiring.
import { z } from "zod";

export const executors = ["auto", "onnx", "tfjs"] as const;
/** Where ONNX Runtime runs (analysis/backbone/ort-device.ts): auto = the first of cuda, webgpu, cpu that runs. */
export const computeDevices = ["auto", "cpu", "cuda", "webgpu"] as const;
export const tfjsBackends = ["auto", "tensorflow-gpu", "tensorflow", "wasm", "cpu"] as const;
/** Backbone weights as the lab declares them (config weights.kind). */
export const weightKinds = ["standard", "robust"] as const;

export const configSchema = z.strictObject({
  bind: z.string().min(1).default("127.0.0.1"), // loopback unless a lab opens it on purpose
  port: z.number().int().min(0, "expected a TCP port 0..65535 (0 = any free port)").max(65535).default(8710),
  /** Access token for every endpoint; generated into <dataDir>/token on first run when absent. */
  token: z.string().min(16, "expected a token of at least 16 characters").optional(),
  dataDir: z.string().min(1).default("./ephysloop-data"),
  /** SQLite database; defaults to <dataDir>/ephysloop.db. */
  dbPath: z.string().min(1).optional(),
  compute: z
    .strictObject({
      executor: z.enum(executors).default("auto"), // features and input gradients: ONNX Runtime when it loads
      tfjsBackend: z.enum(tfjsBackends).default("auto"),
      threads: z.number().int().min(1).max(256).optional(), // default: the machine's cores
      device: z.enum(computeDevices).default("auto"),
    })
    .default({ executor: "auto", tfjsBackend: "auto", device: "auto" }),
  weights: z
    .strictObject({
      /** A torchvision-layout .safetensors state dict; absent = the embedded Keras ImageNet ResNet-50. */
      path: z.string().min(1).optional(),
      arch: z.enum(["resnet50", "resnet18"]).default("resnet50"),
      variant: z.enum(["torchvision", "keras"]).default("torchvision"),
      /**
       * What the lab declares the weights in `path` to be: "robust" (adversarially trained, as Lappe et al. used) or
       * "standard"; named with the file and its sha256 in the report. The embedded weights are standard.
       */
      kind: z.enum(weightKinds).default("standard"),
    })
    .refine((w) => w.kind === "standard" || w.path !== undefined, {
      path: ["kind"],
      message:
        "expected weights.path with it: the embedded Keras ResNet-50 is standard (ImageNet-trained), not robust",
    })
    .default({ arch: "resnet50", variant: "torchvision", kind: "standard" }),
  rig: z
    .strictObject({
      /** Serial device of the rig box, e.g. /dev/ttyACM0; absent = no box (the virtual rig provides one). */
      serialPath: z.string().min(1).optional(),
      baudRate: z.number().int().positive().default(115200),
      /** Acquisition channel ids to record; absent = every channel the bridge announces. */
      channels: z.array(z.string().min(1)).optional(),
      /** A `show` the display never reports voids that presentation; this many in a row fail the phase. */
      maxConsecutiveDisplayTimeouts: z.number().int().min(1, "expected at least 1 timeout").default(5),
      /**
       * Display pixels per degree of visual angle at the subject's eye, for the eye calibration's targets:
       * width px / (2 · atan(width cm / 2 / distance cm) in degrees), e.g. 1920 px over 53 cm at 57 cm: 36.6.
       */
      pixelsPerDegree: z.number().positive("expected pixels per degree > 0").max(1000).default(36),
      /** Rig box (protocol version 2) photodiode thresholds, mV at its input: on at onMv, off below offMv. */
      photodiode: z
        .strictObject({
          onMv: z.number().int().min(1).max(5000, "expected 1..5000 mV"),
          offMv: z.number().int().min(0).max(4999, "expected 0..4999 mV"),
        })
        .refine((p) => p.offMv < p.onMv, { message: "expected offMv below onMv", path: ["offMv"] })
        .default({ onMv: 2500, offMv: 1500 }),
      /** Rig box EYE lines for the dashboard and the calibration, every this many ms (5..1000; 0 = off). */
      eyeStreamMs: z
        .number()
        .int()
        .refine((v) => v === 0 || (v >= 5 && v <= 1000), { message: "expected 0 (off) or 5..1000 ms" })
        .default(20),
    })
    .default({
      baudRate: 115200,
      maxConsecutiveDisplayTimeouts: 5,
      pixelsPerDegree: 36,
      photodiode: { onMv: 2500, offMv: 1500 },
      eyeStreamMs: 20,
    }),
  export: z
    .strictObject({
      /** NWB schema folder (core/nwb.namespace.yaml) cached in exported files; absent = ../shared/nwb-schema. */
      nwbSchemaDir: z.string().min(1).optional(),
    })
    .default({}),
  logLevel: z.enum(["trace", "debug", "info", "warn", "error"]).default("info"),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
