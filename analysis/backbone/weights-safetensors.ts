// torchvision state dicts in .safetensors → folded conv weights keyed by the description's conv names.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { convOps } from "./describe.ts";
import type { FoldedWeights, NetworkDescription } from "./description.ts";
import { BackboneError } from "./errors.ts";
import { foldBatchNorm } from "./fold-bn.ts";

/** torchvision's BatchNorm2d default. */
export const TORCH_BN_EPS = 1e-5;

export interface NamedTensor {
  dtype: string;
  shape: number[];
  /** Decoded to float32 for F32/F16/BF16 tensors; null for other dtypes (e.g. I64 num_batches_tracked). */
  data: Float32Array | null;
}

const DTYPE_BYTES: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

function bad(message: string): BackboneError {
  return new BackboneError("EPHYS_BAD_WEIGHTS", message);
}

/** IEEE half → float. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

let HALF_TABLE: Float32Array | null = null;
function halfTable(): Float32Array {
  if (!HALF_TABLE) {
    HALF_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) HALF_TABLE[h] = halfToFloat(h);
  }
  return HALF_TABLE;
}

function decode(dtype: string, bytes: Uint8Array, count: number): Float32Array | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  if (dtype === "F32") {
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  } else if (dtype === "F16") {
    const table = halfTable();
    for (let i = 0; i < count; i++) out[i] = table[view.getUint16(i * 2, true)];
  } else if (dtype === "BF16") {
    const u = new Uint32Array(1);
    const f = new Float32Array(u.buffer);
    for (let i = 0; i < count; i++) {
      u[0] = view.getUint16(i * 2, true) << 16;
      out[i] = f[0];
    }
  } else if (dtype === "F64") {
    for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
  } else {
    return null;
  }
  return out;
}

/** Parse a .safetensors buffer: u64 LE header length, JSON header {name: {dtype, shape, data_offsets}}, data. */
export function parseSafetensors(bytes: Uint8Array): Map<string, NamedTensor> {
  if (bytes.byteLength < 8) throw bad(`safetensors file has ${bytes.byteLength} bytes; expected at least 8`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > bytes.byteLength - 8) {
    throw bad(`safetensors header length ${headerLength} exceeds the file (${bytes.byteLength} bytes)`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<
      string,
      unknown
    >;
  } catch (e) {
    throw bad(`safetensors header is not valid JSON: ${(e as Error).message}`);
  }
  const dataStart = 8 + headerLength;
  const tensors = new Map<string, NamedTensor>();
  for (const [name, value] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const entry = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = entry.dtype;
    const shape = entry.shape;
    const offsets = entry.data_offsets;
    if (typeof dtype !== "string" || !(dtype in DTYPE_BYTES)) {
      throw bad(
        `tensor ${name}: dtype ${JSON.stringify(dtype)}; expected one of ${Object.keys(DTYPE_BYTES).join(", ")}`,
      );
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw bad(`tensor ${name}: shape ${JSON.stringify(shape)}; expected an array of non-negative integers`);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((d) => Number.isInteger(d) && d >= 0)
    ) {
      throw bad(`tensor ${name}: data_offsets ${JSON.stringify(offsets)}; expected [begin, end]`);
    }
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    const [begin, end] = offsets as [number, number];
    if (end - begin !== count * DTYPE_BYTES[dtype] || dataStart + end > bytes.byteLength) {
      throw bad(
        `tensor ${name}: data_offsets [${begin}, ${end}] do not hold ${count} × ${dtype} inside the file (${bytes.byteLength} bytes)`,
      );
    }
    const data = decode(dtype, bytes.subarray(dataStart + begin, dataStart + end), count);
    tensors.set(name, { dtype, shape: shape as number[], data });
  }
  return tensors;
}

/** Find a float tensor of exactly the expected shape, or throw naming it. */
export function expectTensor(tensors: Map<string, NamedTensor>, name: string, shape: number[]): Float32Array {
  const t = tensors.get(name);
  if (!t) throw bad(`weights lack tensor ${name}; expected shape [${shape.join(", ")}]`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw bad(`tensor ${name} has shape [${t.shape.join(", ")}]; expected [${shape.join(", ")}]`);
  }
  if (!t.data) throw bad(`tensor ${name} has dtype ${t.dtype}; expected F32, F16 or BF16`);
  return t.data;
}

/** torchvision names of a conv op's weight and its batch norm. */
export function torchvisionNames(convName: string): { conv: string; bn: string } {
  if (convName === "conv1") return { conv: "conv1", bn: "bn1" };
  if (convName.endsWith(".downsample")) return { conv: `${convName}.0`, bn: `${convName}.1` };
  const m = /^(layer\d+\.\d+)\.conv(\d)$/.exec(convName);
  if (!m) throw bad(`conv op ${convName} has no torchvision counterpart`);
  return { conv: convName, bn: `${m[1]}.bn${m[2]}` };
}

/**
 * Fold a torchvision state dict (already parsed) into the description's convs. Tensors the description does not use
 * (fc.*, num_batches_tracked, later layers) are ignored. A conv bias (`<conv>.bias`) is folded when present.
 */
export function foldTorchvisionWeights(
  tensors: Map<string, NamedTensor>,
  desc: NetworkDescription,
  eps = TORCH_BN_EPS,
): FoldedWeights {
  const weights: FoldedWeights = new Map();
  for (const op of convOps(desc)) {
    const names = torchvisionNames(op.name);
    const o = op.outChannels;
    const w = expectTensor(tensors, `${names.conv}.weight`, [o, op.inChannels, op.kernel, op.kernel]);
    const b = tensors.has(`${names.conv}.bias`) ? expectTensor(tensors, `${names.conv}.bias`, [o]) : null;
    const bn = {
      gamma: expectTensor(tensors, `${names.bn}.weight`, [o]),
      beta: expectTensor(tensors, `${names.bn}.bias`, [o]),
      mean: expectTensor(tensors, `${names.bn}.running_mean`, [o]),
      variance: expectTensor(tensors, `${names.bn}.running_var`, [o]),
      eps,
    };
    weights.set(op.name, foldBatchNorm(w, b, bn));
  }
  return weights;
}

/** Parse a .safetensors buffer and fold it into the description's convs. */
export function loadSafetensorsWeights(
  bytes: Uint8Array,
  desc: NetworkDescription,
  eps = TORCH_BN_EPS,
): FoldedWeights {
  return foldTorchvisionWeights(parseSafetensors(bytes), desc, eps);
}

/** Read a .safetensors file and fold it into the description's convs. */
export async function readSafetensorsWeights(
  path: string,
  desc: NetworkDescription,
  eps = TORCH_BN_EPS,
): Promise<FoldedWeights> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw bad(`cannot read weights file ${path}: ${(e as Error).message}`);
  }
  return loadSafetensorsWeights(bytes, desc, eps);
}

/** Hex sha256 of a file (streamed), for session provenance. */
export function sha256OfFile(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    createReadStream(path)
      .on("data", (chunk) => hash.update(chunk))
      .on("error", reject)
      .on("end", () => resolve(hash.digest("hex")));
  });
}
