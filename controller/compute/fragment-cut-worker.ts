// The fragment step's cutting in a worker thread (controller/day/steps/fragment.ts): each parent image cut along its
// map (steps/fragment-cut.ts), its PNGs and masks written and hashed. Off the daemon's own thread, whose loop
// presents phase 3 meanwhile (the masks' Gaussian edges alone take ~200 ms of CPU per parent on 2 cores). One
// message per parent, in order: its cut, or why it could not be cut; then done. Stops between parents on abort.
import { parentPort, workerData } from "node:worker_threads";
import { type CutJob, type CutMessage, cutParent } from "../day/steps/fragment-cut.ts";

const job = workerData as CutJob;
const post = (m: CutMessage) => parentPort!.postMessage(m);
let aborted = false;
parentPort!.on("message", (m: { type: string }) => {
  if (m.type === "abort") aborted = true;
});

try {
  for (const [index, r] of job.parents.entries()) {
    if (aborted) throw Object.assign(new Error("fragments cancelled"), { code: "EPHYS_ABORTED" });
    try {
      const part = await cutParent(
        r.parent,
        r.role,
        r.mapPath,
        r.channelId,
        job.spec,
        job.settings,
        r.outDir,
      );
      post({ type: "cut", index, part });
    } catch (e) {
      post({ type: "failed", index, message: (e as Error).message });
    }
  }
  post({ type: "done" });
} catch (e) {
  post({ type: "error", message: (e as Error).message, code: (e as { code?: string }).code });
}
