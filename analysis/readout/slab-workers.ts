// Data-parallel slab products: the image rows are split between this thread (the first share) and worker
// threads (one share each), every thread holding only its rows' features. A forward product concatenates the
// threads' column blocks of U_p [k, N]; a backward product sums their partial G_p (R_p split by columns).
// Workers run slab-worker.ts with the same tfjs backend as this thread (tfjs-core cpu or wasm).

import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs-core";
import { ReadoutError } from "./errors.ts";
import type { FeatureMaps } from "./feature-maps.ts";
import { type SlabEngine, type SlabProduct, type SlabSource, TapSlabs } from "./tap-slabs.ts";

/** Request to a slab worker; replies carry the same id. */
export type SlabRequest =
  | { id: number; kind: "init"; backend: string; wasmPath?: string; maps: FeatureMaps }
  | { id: number; kind: "forward" | "backward"; items: SlabProduct[] }
  | { id: number; kind: "dispose" };

type WithoutId<T> = T extends unknown ? Omit<T, "id"> : never;

export type SlabReply =
  | { id: number; ok: true; outputs?: Float32Array[] }
  | { id: number; ok: false; message: string };

const require = createRequire(import.meta.url);

/**
 * The worker's entry: an eval'd module that registers tsx's ESM hooks in the worker thread, then imports
 * slab-worker.ts (hooks registered in this thread, or `--import tsx` in execArgv, do not reach a worker's
 * entry module on Node 20).
 */
function workerSource(): string {
  const tsxApi = pathToFileURL(
    require.resolve("tsx/package.json").replace(/package\.json$/, "dist/esm/api/index.mjs"),
  );
  const entry = new URL("./slab-worker.ts", import.meta.url);
  return `import(${JSON.stringify(tsxApi.href)}).then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); });`;
}

class SlabWorker {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (r: SlabReply) => void; reject: (e: Error) => void }
  >();

  constructor() {
    this.worker = new Worker(workerSource(), { eval: true, execArgv: [] });
    this.worker.on("message", (reply: SlabReply) => {
      const waiter = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      waiter?.resolve(reply);
    });
    const fail = (e: Error) => {
      for (const w of this.pending.values()) w.reject(e);
      this.pending.clear();
    };
    this.worker.on("error", fail);
    this.worker.on("exit", (code) =>
      fail(new ReadoutError("EPHYS_BAD_READOUT", `slab worker exited (code ${code})`)),
    );
  }

  async request(req: WithoutId<SlabRequest>, transfer: ArrayBuffer[] = []): Promise<Float32Array[]> {
    const id = this.nextId++;
    const reply = await new Promise<SlabReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id }, transfer);
    });
    if (!reply.ok) throw new ReadoutError("EPHYS_BAD_READOUT", `slab worker: ${reply.message}`);
    return reply.outputs ?? [];
  }

  async close(): Promise<void> {
    try {
      await this.request({ kind: "dispose" });
    } finally {
      await this.worker.terminate();
    }
  }
}

/** The images of `sources` (rows in order, concatenated) from row `from` to row `to`, as one FeatureMaps. */
function gatherRows(sources: SlabSource[], from: number, to: number): FeatureMaps {
  const { h, w, c } = sources[0].features;
  const size = h * w * c;
  const data = new Float32Array((to - from) * size);
  let row = 0;
  let out = 0;
  for (const src of sources) {
    for (let i = 0; i < src.rows.length; i++, row++) {
      if (row < from || row >= to) continue;
      const r = src.rows[i];
      data.set(src.features.data.subarray(r * size, (r + 1) * size), out * size);
      out++;
    }
  }
  return { n: to - from, h, w, c, data };
}

export class RowSplitSlabs implements SlabEngine {
  private constructor(
    readonly n: number,
    readonly c: number,
    /** Row boundaries: thread t holds rows [bounds[t], bounds[t+1]); thread 0 is this one. */
    private readonly bounds: number[],
    private readonly local: TapSlabs,
    private readonly workers: SlabWorker[],
  ) {}

  static async create(sources: SlabSource[], threads: number): Promise<RowSplitSlabs> {
    const n = sources.reduce((s, src) => s + src.rows.length, 0);
    const c = sources[0].features.c;
    const parts = Math.min(threads, n);
    const bounds = Array.from({ length: parts + 1 }, (_, t) => Math.round((t * n) / parts));
    const localMaps = gatherRows(sources, bounds[0], bounds[1]);
    const local = new TapSlabs([
      { features: localMaps, rows: Array.from({ length: localMaps.n }, (_, i) => i) },
    ]);
    const workers: SlabWorker[] = [];
    const backend = tf.getBackend();
    let wasmPath: string | undefined;
    if (backend === "wasm") {
      wasmPath = `${require.resolve("@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm").replace(/[^/]+$/, "")}`;
    }
    try {
      for (let t = 1; t < parts; t++) {
        const worker = new SlabWorker();
        workers.push(worker);
        const maps = gatherRows(sources, bounds[t], bounds[t + 1]);
        await worker.request({ kind: "init", backend, wasmPath, maps }, [maps.data.buffer as ArrayBuffer]);
      }
    } catch (e) {
      await Promise.all(workers.map((w) => w.close().catch(() => undefined)));
      local.disposeSync();
      throw e;
    }
    return new RowSplitSlabs(n, c, bounds, local, workers);
  }

  async forwardAll(items: SlabProduct[]): Promise<Float32Array[]> {
    const remote = this.workers.map((w) => w.request({ kind: "forward", items }));
    const mine = this.local.forwardAllSync(items);
    const theirs = await Promise.all(remote);
    // Thread t's block [k, n_t] fills columns [bounds[t], bounds[t+1]) of U_p [k, N].
    const blocks = [mine, ...theirs];
    return items.map((it, i) => {
      const out = new Float32Array(this.n * it.k);
      blocks.forEach((block, t) => {
        const from = this.bounds[t];
        const width = this.bounds[t + 1] - from;
        for (let j = 0; j < it.k; j++)
          out.set(block[i].subarray(j * width, (j + 1) * width), j * this.n + from);
      });
      return out;
    });
  }

  async backwardAll(items: SlabProduct[]): Promise<Float32Array[]> {
    const columns = (it: SlabProduct, t: number): Float32Array => {
      const from = this.bounds[t];
      const width = this.bounds[t + 1] - from;
      const out = new Float32Array(it.k * width);
      for (let j = 0; j < it.k; j++)
        out.set(it.data.subarray(j * this.n + from, j * this.n + from + width), j * width);
      return out;
    };
    const remote = this.workers.map((w, wi) =>
      w.request({
        kind: "backward",
        items: items.map((it) => ({ p: it.p, k: it.k, data: columns(it, wi + 1) })),
      }),
    );
    const mine = this.local.backwardAllSync(items.map((it) => ({ p: it.p, k: it.k, data: columns(it, 0) })));
    const theirs = await Promise.all(remote);
    return items.map((_, i) => {
      const out = mine[i];
      for (const part of theirs) {
        const g = part[i];
        for (let j = 0; j < out.length; j++) out[j] += g[j];
      }
      return out;
    });
  }

  async dispose(): Promise<void> {
    this.local.disposeSync();
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
