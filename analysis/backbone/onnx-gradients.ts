// Input gradients on ONNX Runtime: the forward graph (onnx-graph.ts) for features and the generated VJP graph
// (onnx-vjp-graph.ts) for gradients, built in memory from the description. VJP graphs are specialized to one image
// size and kept per (tap, size, cotangent kind), the least recently used released beyond `maxGraphs`.
// Every call exists synchronously too (for tf.customGrad) where ort-session.ts's native session passes its checks.
import { availableParallelism } from "node:os";
import type { FoldedWeights, NetworkDescription } from "./description.ts";
import { BackboneError } from "./errors.ts";
import type { GradientBackbone, ImageBatch } from "./gradient-backbone.ts";
import { type BackboneFeatures, checkDims, loadOrt, ortSessionOptions } from "./onnx-executor.ts";
import { buildOnnxModel, ONNX_FEATURES, ONNX_PIXELS } from "./onnx-graph.ts";
import {
  buildVjpModel,
  type ConvAdjoint,
  type CotangentKind,
  ONNX_COTANGENT,
  ONNX_GRADIENT,
  ONNX_READOUT,
  ONNX_SCATTER,
  tapShape,
  type VjpPart,
} from "./onnx-vjp-graph.ts";
import type { OrtDevice } from "./ort-device.ts";
import {
  createOrtSession,
  createOrtSessionSync,
  type OrtFeeds,
  type OrtOutput,
  type OrtSession,
  ortVersion,
  syncBinding,
} from "./ort-session.ts";
import { bilinearScatter, checkReadout } from "./readout-cotangent.ts";

export interface OnnxGradientsOptions {
  /** Intra-op threads; default: the machine's cores. */
  threads?: number;
  /** Let idle intra-op threads spin (default true; false yields the cores at once, better on a loaded machine). */
  spinning?: boolean;
  adjoint?: ConvAdjoint;
  /** VJP graphs kept at once (one per tap, image size and cotangent kind); default 4. */
  maxGraphs?: number;
  /** Where the sessions run (ort-device.ts); default the CPU. */
  device?: OrtDevice;
}

/** Cotangents per run: 16 on the CPU (its memory and caches), 64 on a GPU (it wants large batches). */
export const gradientChunkSize = (device: OrtDevice): number => (device === "cpu" ? 16 : 64);

/** What the forward half keeps for the backward half (VJP graph parts "forward"/"backward"): opaque. */
export interface VjpState {
  readonly tap: string;
  readonly n: number;
  readonly height: number;
  readonly width: number;
  readonly saved: OrtFeeds;
}

export interface OnnxGradients extends GradientBackbone {
  readonly threads: number;
  readonly device: OrtDevice;
  /** Whether the *Sync calls work (the native session passed its checks; see ort-session.ts). */
  readonly synchronous: boolean;
  featuresSync(tap: string, images: ImageBatch): BackboneFeatures;
  inputGradientsSync(tap: string, images: ImageBatch, cotangents: Float32Array, k: number): Float32Array;
  readoutGradientsSync(
    tap: string,
    images: ImageBatch,
    location: [number, number],
    readout: ArrayLike<number>,
    k: number,
  ): Float32Array;
  /** The forward half: features at `tap` and the state its backward half reads (the forward is not rerun). */
  forwardWithStateSync(tap: string, images: ImageBatch): { features: BackboneFeatures; state: VjpState };
  /** The backward half for cotangents [k, h, w, C] (k = n, or n = 1) of the state's images. */
  backwardFromStateSync(state: VjpState, cotangents: Float32Array, k: number): Float32Array;
}

/** One run: which graph, the feeds, which outputs (default: all of the graph's) and how to read them. */
interface Request<T> {
  key: string;
  build: () => Uint8Array;
  feeds: OrtFeeds;
  outputs?: string[];
  finish: (out: Record<string, OrtOutput>) => T;
}

function floats(out: Record<string, OrtOutput>, name: string): { data: Float32Array; dims: number[] } {
  const o = out[name];
  if (o?.type !== "float32") {
    throw new BackboneError("EPHYS_BAD_BACKBONE", `output "${name}": got ${o?.type}, expected float32`);
  }
  return { data: o.data as Float32Array, dims: o.dims };
}

export async function createOnnxGradients(
  desc: NetworkDescription,
  weights: FoldedWeights,
  options: OnnxGradientsOptions = {},
): Promise<OnnxGradients> {
  const ort = await loadOrt();
  if (ort === null) {
    throw new BackboneError(
      "EPHYS_ORT_BINDING",
      "onnxruntime-node: not loadable on this machine, expected its native binding (check onnxAvailable() first)",
    );
  }
  const threads = options.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) {
    throw new BackboneError("EPHYS_BAD_BACKBONE", `threads: got ${threads}, expected a positive integer`);
  }
  const device = options.device ?? "cpu";
  const sessionOptions = ortSessionOptions(threads, options.spinning, device);
  const maxGraphs = options.maxGraphs ?? 4;
  if (!Number.isInteger(maxGraphs) || maxGraphs < 1) {
    throw new BackboneError("EPHYS_BAD_BACKBONE", `maxGraphs: got ${maxGraphs}, expected a positive integer`);
  }
  const adjoint = options.adjoint ?? "auto";
  const probe = syncBinding();
  const synchronous = "binding" in probe;
  const sessions = new Map<string, OrtSession>(); // insertion order = least recently used first
  const creating = new Map<string, Promise<OrtSession>>();
  let disposed = false;

  const touch = (key: string): OrtSession | undefined => {
    const s = sessions.get(key);
    if (s === undefined) return undefined;
    sessions.delete(key);
    sessions.set(key, s);
    return s;
  };
  const keep = (key: string, s: OrtSession): OrtSession => {
    sessions.set(key, s);
    const vjpKeys = [...sessions.keys()].filter((k) => k.startsWith("vjp"));
    for (const old of vjpKeys.slice(0, Math.max(0, vjpKeys.length - maxGraphs))) {
      sessions.get(old)!.release();
      sessions.delete(old);
    }
    return s;
  };
  const checkOpen = () => {
    if (disposed) throw new BackboneError("EPHYS_BAD_BACKBONE", "the ONNX gradients engine was disposed");
  };
  const sessionSync = (r: Request<unknown>): OrtSession => {
    checkOpen();
    return touch(r.key) ?? keep(r.key, createOrtSessionSync(r.build(), sessionOptions));
  };
  const sessionAsync = async (r: Request<unknown>): Promise<OrtSession> => {
    checkOpen();
    if (synchronous) return sessionSync(r);
    const hit = touch(r.key);
    if (hit) return hit;
    let pending = creating.get(r.key);
    if (pending === undefined) {
      pending = createOrtSession(ort, r.build(), sessionOptions).then((s) => {
        creating.delete(r.key);
        return keep(r.key, s);
      });
      creating.set(r.key, pending);
    }
    return pending;
  };
  const runSync = <T>(r: Request<T>): T => {
    const session = sessionSync(r);
    return r.finish(session.runSync(r.feeds, r.outputs ?? [...session.outputNames]));
  };
  const runAsync = async <T>(r: Request<T>): Promise<T> => {
    const session = await sessionAsync(r);
    return r.finish(await session.run(r.feeds, r.outputs ?? [...session.outputNames]));
  };

  const pixels = (images: ImageBatch) => {
    checkDims(images.n, images.height, images.width, images.data.length);
    return new ort.Tensor("float32", images.data, [images.n, images.height, images.width, 3]);
  };
  const batchOf = (n: number, k: number) => {
    if (!Number.isInteger(k) || k < 1 || (n !== k && n !== 1)) {
      throw new BackboneError(
        "EPHYS_BAD_COTANGENT",
        `k: got ${k} cotangents for ${n} image(s), expected k = ${n} (one per image) or one image`,
      );
    }
  };
  const gradientOut =
    (size: { height: number; width: number }, k: number) => (out: Record<string, OrtOutput>) => {
      const g = floats(out, ONNX_GRADIENT);
      const want = [k, size.height, size.width, 3];
      if (g.dims.join() !== want.join()) {
        throw new BackboneError("EPHYS_BAD_BACKBONE", `gradient: got [${g.dims}], expected [${want}]`);
      }
      return g.data;
    };
  const vjpKey = (tap: string, size: { height: number; width: number }, kind: CotangentKind, part: VjpPart) =>
    `vjp-${part}|${tap}|${size.height}x${size.width}|${kind}`;
  const vjpBuild =
    (tap: string, size: { height: number; width: number }, kind: CotangentKind, part: VjpPart) => () =>
      buildVjpModel(desc, weights, {
        tap,
        height: size.height,
        width: size.width,
        cotangent: kind,
        adjoint,
        part,
      });
  const denseCotangent = (
    tap: string,
    size: { height: number; width: number },
    cotangents: Float32Array,
    k: number,
  ) => {
    const [h, w, c] = tapShape(desc, tap, size.height, size.width);
    if (!(cotangents instanceof Float32Array) || cotangents.length !== k * h * w * c) {
      throw new BackboneError(
        "EPHYS_BAD_COTANGENT",
        `cotangents: got ${cotangents?.length} values, expected k·h·w·C = ${k}·${h}·${w}·${c} = ${k * h * w * c} ` +
          `(NHWC at ${tap} for a ${size.height}×${size.width} image)`,
      );
    }
    return new ort.Tensor("float32", cotangents, [k, h, w, c]);
  };
  const featuresOut = (out: Record<string, OrtOutput>): BackboneFeatures => {
    const f = floats(out, ONNX_FEATURES);
    const [n, h, w, c] = f.dims;
    return { data: f.data, shape: [n, h, w, c] };
  };

  const featuresRequest = (tap: string, images: ImageBatch): Request<BackboneFeatures> => {
    tapShape(desc, tap, images.height, images.width); // the tap exists and the image is large enough
    return {
      key: `fwd|${tap}`,
      build: () => buildOnnxModel(desc, weights, { tap, input: "pixels", outputLayout: "nhwc" }),
      feeds: { [ONNX_PIXELS]: pixels(images) },
      outputs: [ONNX_FEATURES],
      finish: featuresOut,
    };
  };
  const forwardStateRequest = (
    tap: string,
    images: ImageBatch,
  ): Request<{ features: BackboneFeatures; state: VjpState }> => {
    tapShape(desc, tap, images.height, images.width);
    const { n, height, width } = images;
    return {
      key: vjpKey(tap, images, "dense", "forward"),
      build: vjpBuild(tap, images, "dense", "forward"),
      feeds: { [ONNX_PIXELS]: pixels(images) },
      finish: (out) => {
        const saved: OrtFeeds = {};
        for (const [name, o] of Object.entries(out)) {
          if (name !== ONNX_FEATURES) saved[name] = new ort.Tensor(o.type, o.data, o.dims);
        }
        return { features: featuresOut(out), state: { tap, n, height, width, saved } };
      },
    };
  };
  const backwardStateRequest = (
    state: VjpState,
    cotangents: Float32Array,
    k: number,
  ): Request<Float32Array> => {
    const { tap } = state;
    batchOf(state.n, k);
    return {
      key: vjpKey(tap, state, "dense", "backward"),
      build: vjpBuild(tap, state, "dense", "backward"),
      feeds: { ...state.saved, [ONNX_COTANGENT]: denseCotangent(tap, state, cotangents, k) },
      outputs: [ONNX_GRADIENT],
      finish: gradientOut(state, k),
    };
  };
  const gradientRequest = (
    tap: string,
    images: ImageBatch,
    cotangents: Float32Array,
    k: number,
  ): Request<Float32Array> => {
    tapShape(desc, tap, images.height, images.width);
    batchOf(images.n, k);
    return {
      key: vjpKey(tap, images, "dense", "whole"),
      build: vjpBuild(tap, images, "dense", "whole"),
      feeds: {
        [ONNX_PIXELS]: pixels(images),
        [ONNX_COTANGENT]: denseCotangent(tap, images, cotangents, k),
      },
      outputs: [ONNX_GRADIENT],
      finish: gradientOut(images, k),
    };
  };
  const readoutRequest = (
    tap: string,
    images: ImageBatch,
    location: [number, number],
    readout: ArrayLike<number>,
    k: number,
  ): Request<Float32Array> => {
    const [h, w, c] = tapShape(desc, tap, images.height, images.width);
    batchOf(images.n, k);
    checkReadout(readout, k, c);
    return {
      key: vjpKey(tap, images, "readout", "whole"),
      build: vjpBuild(tap, images, "readout", "whole"),
      feeds: {
        [ONNX_PIXELS]: pixels(images),
        [ONNX_READOUT]: new ort.Tensor("float32", Float32Array.from(readout), [k, c]),
        [ONNX_SCATTER]: new ort.Tensor("float32", bilinearScatter(location, h, w), [1, h, w]),
      },
      outputs: [ONNX_GRADIENT],
      finish: gradientOut(images, k),
    };
  };

  const version = ortVersion() ?? "?";
  return {
    description: desc,
    engine: "onnx",
    summary:
      `onnx on ${device} (onnxruntime-node ${version}, ${threads} thread${threads === 1 ? "" : "s"}, ` +
      `${synchronous ? "synchronous native session" : `asynchronous only: ${"reason" in probe ? probe.reason : ""}`})`,
    chunkSize: gradientChunkSize(device),
    threads,
    device,
    synchronous,
    features: async (tap, images) => runAsync(featuresRequest(tap, images)),
    featuresSync: (tap, images) => runSync(featuresRequest(tap, images)),
    inputGradients: async (tap, images, cotangents, k) =>
      runAsync(gradientRequest(tap, images, cotangents, k)),
    inputGradientsSync: (tap, images, cotangents, k) => runSync(gradientRequest(tap, images, cotangents, k)),
    readoutGradients: async (tap, images, location, readout, k) =>
      runAsync(readoutRequest(tap, images, location, readout, k)),
    readoutGradientsSync: (tap, images, location, readout, k) =>
      runSync(readoutRequest(tap, images, location, readout, k)),
    forwardWithStateSync: (tap, images) => runSync(forwardStateRequest(tap, images)),
    backwardFromStateSync: (state, cotangents, k) => runSync(backwardStateRequest(state, cotangents, k)),
    dispose() {
      if (disposed) return;
      disposed = true;
      for (const s of sessions.values()) s.release();
      sessions.clear();
    },
  };
}
