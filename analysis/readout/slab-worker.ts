// Worker thread of RowSplitSlabs: holds one block of image rows as tfjs slabs and answers forward/backward
// products (see tap-slabs.ts). Messages: SlabRequest in, SlabReply out (slab-workers.ts).

import { parentPort } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import type { SlabReply, SlabRequest } from "./slab-workers.ts";
import { TapSlabs } from "./tap-slabs.ts";

let slabs: TapSlabs | undefined;

async function handle(req: SlabRequest): Promise<{ reply: SlabReply; transfer: ArrayBuffer[] }> {
  switch (req.kind) {
    case "init": {
      if (req.backend === "wasm") {
        const wasm = await import("@tensorflow/tfjs-backend-wasm");
        if (req.wasmPath) wasm.setWasmPaths(req.wasmPath);
      }
      if (!(await tf.setBackend(req.backend)))
        throw new Error(`tfjs backend "${req.backend}" failed to start`);
      await tf.ready();
      slabs = new TapSlabs([{ features: req.maps, rows: Array.from({ length: req.maps.n }, (_, i) => i) }]);
      return { reply: { id: req.id, ok: true }, transfer: [] };
    }
    case "forward":
    case "backward": {
      if (!slabs) throw new Error("not initialized");
      const outputs =
        req.kind === "forward" ? slabs.forwardAllSync(req.items) : slabs.backwardAllSync(req.items);
      return {
        reply: { id: req.id, ok: true, outputs },
        transfer: outputs.map((o) => o.buffer as ArrayBuffer),
      };
    }
    case "dispose":
      slabs?.disposeSync();
      slabs = undefined;
      return { reply: { id: req.id, ok: true }, transfer: [] };
  }
}

parentPort!.on("message", (req: SlabRequest) => {
  handle(req).then(
    ({ reply, transfer }) => parentPort!.postMessage(reply, transfer),
    (e: unknown) =>
      parentPort!.postMessage({ id: req.id, ok: false, message: (e as Error).message } satisfies SlabReply),
  );
});
