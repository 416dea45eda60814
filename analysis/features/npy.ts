// NumPy .npy files (format version 1.0) of little-endian float32 arrays, C order: what `ephysloop features --out`
// writes, so that `numpy.load(path)` gives the [images, H, W, C] feature array. Reader for the round trip in tests.
// Format: "\x93NUMPY", major 1, minor 0, uint16 LE header length, an ASCII Python dict literal padded with spaces
// and ended by "\n" so the data start at a multiple of 64 bytes, then the raw data.
import { randomBytes } from "node:crypto";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { endianness } from "node:os";
import { FeatureError } from "./errors.ts";

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
const ALIGN = 64;

export interface NpyArray {
  shape: number[];
  data: Float32Array;
}

function checkShape(shape: readonly number[], length: number): void {
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new FeatureError("EPHYS_BAD_NPY", `shape: got [${shape.join(", ")}], expected whole numbers ≥ 0`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== length) {
    throw new FeatureError(
      "EPHYS_BAD_NPY",
      `data: got ${length} values, expected ${count} for shape [${shape.join(", ")}]`,
    );
  }
}

/** The .npy v1.0 header (magic through the newline) for a '<f4' C-order array of this shape. */
export function npyHeader(shape: readonly number[]): Buffer {
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${tuple}, }`;
  const unpadded = MAGIC.length + 2 + 2 + dict.length + 1;
  const total = Math.ceil(unpadded / ALIGN) * ALIGN;
  const headerLength = total - MAGIC.length - 4;
  if (headerLength > 0xffff) {
    throw new FeatureError("EPHYS_BAD_NPY", `shape: [${shape.join(", ")}] needs a header over 65535 bytes`);
  }
  const out = Buffer.alloc(total, 0x20);
  MAGIC.copy(out, 0);
  out[6] = 1; // major
  out[7] = 0; // minor
  out.writeUInt16LE(headerLength, 8);
  out.write(dict, 10, "latin1");
  out[total - 1] = 0x0a;
  return out;
}

/** Little-endian bytes of a float32 array (a view where the machine is little-endian). */
function littleEndianBytes(data: Float32Array): Buffer {
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return endianness() === "LE" ? view : Buffer.from(view).swap32();
}

/** The whole .npy file as bytes. */
export function encodeNpy(data: Float32Array, shape: readonly number[]): Buffer {
  checkShape(shape, data.length);
  return Buffer.concat([npyHeader(shape), littleEndianBytes(data)]);
}

/** Write a .npy file atomically (temp file in the same folder, then rename): readers never see half a file. */
export async function writeNpy(path: string, data: Float32Array, shape: readonly number[]): Promise<void> {
  checkShape(shape, data.length);
  const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    await writeFile(temp, npyHeader(shape));
    await writeFile(temp, littleEndianBytes(data), { flag: "a" });
    await rename(temp, path);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
}

/** Parse a .npy v1.x/2.x file of '<f4' C-order data. */
export function decodeNpy(bytes: Uint8Array, file = "(npy)"): NpyArray {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) {
    throw new FeatureError("EPHYS_BAD_NPY", `${file}: expected the .npy magic \\x93NUMPY at the start`);
  }
  const major = buf[6];
  if (major !== 1 && major !== 2) {
    throw new FeatureError(
      "EPHYS_BAD_NPY",
      `${file}: format version ${major}.${buf[7]}; expected 1.x or 2.x`,
    );
  }
  const lengthBytes = major === 1 ? 2 : 4;
  const headerLength = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = 8 + lengthBytes;
  const header = buf.subarray(start, start + headerLength).toString("latin1");
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr !== "<f4") throw new FeatureError("EPHYS_BAD_NPY", `${file}: descr ${descr}; expected '<f4'`);
  if (fortran !== "False") {
    throw new FeatureError("EPHYS_BAD_NPY", `${file}: fortran_order ${fortran}; expected False (C order)`);
  }
  if (shapeText === undefined) throw new FeatureError("EPHYS_BAD_NPY", `${file}: header lacks 'shape'`);
  const shape = shapeText
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const dataStart = start + headerLength;
  if (buf.length !== dataStart + count * 4) {
    throw new FeatureError(
      "EPHYS_BAD_NPY",
      `${file}: ${buf.length - dataStart} data bytes; expected ${count * 4} for shape [${shape.join(", ")}]`,
    );
  }
  const data = new Float32Array(count);
  if (endianness() === "LE") new Uint8Array(data.buffer).set(buf.subarray(dataStart));
  else for (let i = 0; i < count; i++) data[i] = buf.readFloatLE(dataStart + i * 4);
  return { shape, data };
}

export async function readNpy(path: string): Promise<NpyArray> {
  return decodeNpy(await readFile(path), path);
}
