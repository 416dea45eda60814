// .npy writer/reader: the round trip through our reader, numpy.load of our file, and our reader on numpy.save's file.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { decodeNpy, encodeNpy, npyHeader, readNpy, writeNpy } from "../../analysis/features/npy.ts";

const dir = mkdtempSync(join(tmpdir(), "npy-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PYTHON = "/usr/bin/python3";

function sample(shape: number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.sin(i * 0.37) * 10 ** ((i % 7) - 3);
  return data;
}

describe("npy", () => {
  it("headers are v1.0, '<f4', C order, padded so the data start at a multiple of 64", () => {
    for (const shape of [[5], [2, 7, 7, 2048], [0, 3], [1, 2, 3, 4, 5, 6]]) {
      const h = npyHeader(shape);
      expect(h.length % 64).toBe(0);
      expect([...h.subarray(0, 8)]).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
      expect(h.readUInt16LE(8)).toBe(h.length - 10);
      expect(h[h.length - 1]).toBe(0x0a);
      const text = h.subarray(10).toString("latin1");
      expect(text).toContain("'descr': '<f4'");
      expect(text).toContain("'fortran_order': False");
    }
    expect(npyHeader([5]).toString("latin1")).toContain("'shape': (5,)");
    expect(npyHeader([2, 3]).toString("latin1")).toContain("'shape': (2, 3)");
  });

  it("round-trips through our reader, and the write is atomic (no temp file left)", async () => {
    const shape = [3, 2, 5, 4];
    const data = sample(shape);
    const path = join(dir, "a.npy");
    await writeNpy(path, data, shape);
    const back = await readNpy(path);
    expect(back.shape).toEqual(shape);
    expect(back.data).toEqual(data);
    expect(readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
    expect(decodeNpy(encodeNpy(data, shape)).data).toEqual(data);
  });

  it("numpy.load reads our file: dtype, shape and the exact bytes", async () => {
    const shape = [2, 3, 4, 5];
    const data = sample(shape);
    const path = join(dir, "np.npy");
    const raw = join(dir, "np.raw");
    await writeNpy(path, data, shape);
    const out = execFileSync(PYTHON, [
      "-c",
      "import sys, json, numpy as np; a = np.load(sys.argv[1]); a.astype('<f4').tofile(sys.argv[2]);" +
        " print(json.dumps({'dtype': a.dtype.str, 'shape': list(a.shape), 'c': bool(a.flags.c_contiguous)}))",
      path,
      raw,
    ]).toString();
    expect(JSON.parse(out)).toEqual({ dtype: "<f4", shape, c: true });
    expect(readFileSync(raw).equals(Buffer.from(data.buffer))).toBe(true);
  });

  it("our reader reads numpy.save's file", () => {
    const path = join(dir, "from-numpy.npy");
    execFileSync(PYTHON, [
      "-c",
      "import sys, numpy as np; np.save(sys.argv[1], (np.arange(24, dtype='<f4') / 7).reshape(2, 3, 4))",
      path,
    ]);
    const back = decodeNpy(readFileSync(path));
    expect(back.shape).toEqual([2, 3, 4]);
    expect(back.data).toEqual(Float32Array.from({ length: 24 }, (_, i) => Math.fround(i / 7)));
  });

  it("refuses what it cannot read and data that do not fit the shape, with EPHYS_BAD_NPY", () => {
    expect(() => encodeNpy(new Float32Array(5), [2, 3])).toThrow(
      expect.objectContaining({ code: "EPHYS_BAD_NPY" }),
    );
    expect(() => decodeNpy(Buffer.from("not a npy file"))).toThrow(
      expect.objectContaining({ code: "EPHYS_BAD_NPY" }),
    );
    const f8 = Buffer.from(
      encodeNpy(new Float32Array(2), [2]).toString("latin1").replace("<f4", "<f8"),
      "latin1",
    );
    expect(() => decodeNpy(f8)).toThrow(/descr <f8; expected '<f4'/);
    const truncated = encodeNpy(new Float32Array(4), [4]).subarray(0, 70);
    expect(() => decodeNpy(truncated)).toThrow(/data bytes; expected 16/);
    const path = join(dir, "bad.npy");
    writeFileSync(path, "x");
    return expect(readNpy(path)).rejects.toMatchObject({ code: "EPHYS_BAD_NPY" });
  });
});
