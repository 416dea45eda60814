// ONNX Runtime sessions that can also run synchronously. tf.customGrad's gradient functions are synchronous, while
// onnxruntime-node's InferenceSession.run is async only in name: its handler (onnxruntime-node 1.30,
// dist/backend.js) calls the native binding.InferenceSession.run(feeds, fetches, options), which is synchronous,
// inside a setImmediate. This is the one module that reaches past the public API to that native session; it checks
// the package version and the binding's shape when it loads and says why when it will not use it. Without it,
// sessions come from the public API and run asynchronously only.
import { createRequire } from "node:module";
import type * as Ort from "onnxruntime-node";
import { BackboneError } from "./errors.ts";

/** The onnxruntime-node versions whose dist/backend.js was read to confirm the native run is synchronous. */
export const SYNC_BINDING_VERSIONS = /^1\.30\./;

/** An output tensor: float32 (activations, gradients) or int64 (max-pool indices). */
export interface OrtOutput {
  type: "float32" | "int64";
  data: Float32Array | BigInt64Array;
  dims: number[];
}
export type OrtFeeds = Record<string, Ort.Tensor>;

export interface OrtSession {
  /** Whether runSync works (the native binding passed its checks). */
  readonly synchronous: boolean;
  /** The graph's output names, in order. */
  readonly outputNames: readonly string[];
  /** Run and return the named outputs; throws EPHYS_ORT_BINDING when not synchronous. */
  runSync(feeds: OrtFeeds, outputs: string[]): Record<string, OrtOutput>;
  run(feeds: OrtFeeds, outputs: string[]): Promise<Record<string, OrtOutput>>;
  release(): void;
}

interface NativeSession {
  loadModel(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, options: object): void;
  run(feeds: OrtFeeds, fetches: Record<string, null>, options: object): Record<string, unknown>;
  dispose(): void;
  readonly outputMetadata: Array<{ name: string }>;
}
interface NativeBinding {
  binding: { InferenceSession: new () => NativeSession };
  initOrt: () => void;
}

const require = createRequire(import.meta.url);

/** The onnxruntime-node package version, or null when it cannot be resolved. */
export function ortVersion(): string | null {
  try {
    return (require("onnxruntime-node/package.json") as { version: string }).version;
  } catch {
    return null;
  }
}

let probed: { binding: NativeBinding } | { reason: string } | undefined;

/** The native binding when it is safe to call synchronously, else why not (checked once per process). */
export function syncBinding(): { binding: NativeBinding } | { reason: string } {
  if (probed !== undefined) return probed;
  const version = ortVersion();
  if (version === null) {
    probed = { reason: "onnxruntime-node is not installed" };
  } else if (!SYNC_BINDING_VERSIONS.test(version)) {
    probed = {
      reason:
        `onnxruntime-node ${version}: the synchronous native run was checked for ${SYNC_BINDING_VERSIONS.source} only; ` +
        "read its dist/backend.js and widen SYNC_BINDING_VERSIONS in analysis/backbone/ort-session.ts",
    };
  } else {
    try {
      const b = require("onnxruntime-node/dist/binding.js") as Partial<NativeBinding>;
      const ctor = b.binding?.InferenceSession;
      const proto = ctor?.prototype as Partial<NativeSession> | undefined;
      const ok =
        typeof b.initOrt === "function" &&
        typeof ctor === "function" &&
        ["loadModel", "run", "dispose"].every((m) => typeof proto?.[m as keyof NativeSession] === "function");
      probed = ok
        ? { binding: b as NativeBinding }
        : {
            reason:
              `onnxruntime-node ${version}: dist/binding.js lacks binding.InferenceSession with loadModel/run/dispose ` +
              "or initOrt (expected the 1.30 layout)",
          };
    } catch (e) {
      probed = {
        reason: `onnxruntime-node ${version}: dist/binding.js: ${(e as Error).message.split("\n")[0]}`,
      };
    }
  }
  return probed;
}

function outputsOf(result: Record<string, unknown>, names: string[]): Record<string, OrtOutput> {
  const out: Record<string, OrtOutput> = {};
  for (const name of names) {
    const v = result[name] as { data?: unknown; dims?: unknown } | undefined;
    const data = v?.data;
    if (!(data instanceof Float32Array || data instanceof BigInt64Array) || !Array.isArray(v?.dims)) {
      throw new BackboneError(
        "EPHYS_ORT_BINDING",
        `output "${name}": expected a float32 or int64 tensor {data, dims} from the session; found ${typeof v}`,
      );
    }
    const type = data instanceof Float32Array ? "float32" : "int64";
    out[name] = { type, data, dims: (v!.dims as unknown[]).map(Number) };
  }
  return out;
}

/** A session on the native binding (synchronous), or throws EPHYS_ORT_BINDING with why it cannot be used. */
export function createOrtSessionSync(
  bytes: Uint8Array,
  options: Ort.InferenceSession.SessionOptions,
): OrtSession {
  const probe = syncBinding();
  if ("reason" in probe) throw new BackboneError("EPHYS_ORT_BINDING", probe.reason);
  const { binding, initOrt } = probe.binding;
  initOrt();
  const native = new binding.InferenceSession();
  native.loadModel(bytes.buffer, bytes.byteOffset, bytes.byteLength, {
    executionProviders: ["cpu"],
    ...options,
  });
  const metadata = native.outputMetadata;
  if (!Array.isArray(metadata) || metadata.some((m) => typeof m?.name !== "string")) {
    native.dispose();
    throw new BackboneError("EPHYS_ORT_BINDING", "outputMetadata: expected [{name}] from the native session");
  }
  let released = false;
  const runSync = (feeds: OrtFeeds, outputs: string[]) => {
    if (released) throw new BackboneError("EPHYS_BAD_BACKBONE", "run: the ONNX session was released");
    return outputsOf(native.run(feeds, Object.fromEntries(outputs.map((n) => [n, null])), {}), outputs);
  };
  return {
    synchronous: true,
    outputNames: metadata.map((m) => m.name),
    runSync,
    // As onnxruntime-node's own handler does: the synchronous native run, after the current I/O callbacks.
    run: (feeds, outputs) =>
      new Promise((resolve, reject) => {
        setImmediate(() => {
          try {
            resolve(runSync(feeds, outputs));
          } catch (e) {
            reject(e);
          }
        });
      }),
    release() {
      if (released) return;
      released = true;
      native.dispose();
    },
  };
}

/** A session: on the native binding when it passes its checks, else through the public (async) API. */
export async function createOrtSession(
  ort: typeof Ort,
  bytes: Uint8Array,
  options: Ort.InferenceSession.SessionOptions,
): Promise<OrtSession> {
  const probe = syncBinding();
  if ("binding" in probe) return createOrtSessionSync(bytes, options);
  return createPublicOrtSession(ort, bytes, options, probe.reason);
}

/** A session through onnxruntime-node's public API only (asynchronous; runSync throws with `why`). */
export async function createPublicOrtSession(
  ort: typeof Ort,
  bytes: Uint8Array,
  options: Ort.InferenceSession.SessionOptions,
  why = "the public onnxruntime-node API runs asynchronously only",
): Promise<OrtSession> {
  const session = await ort.InferenceSession.create(bytes, options);
  return {
    synchronous: false,
    outputNames: session.outputNames,
    runSync() {
      throw new BackboneError("EPHYS_ORT_BINDING", `runSync: ${why}`);
    },
    async run(feeds, outputs) {
      const result = await session.run(feeds, outputs);
      return outputsOf(result as Record<string, unknown>, outputs);
    },
    release() {
      void session.release();
    },
  };
}
