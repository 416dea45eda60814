// The ingest writer's thread (started by ingest-writer.ts through ts-worker.mjs): its own connection to the
// session database, one transaction per request, answered after the commit. Requests are handled in order.
import { parentPort, workerData } from "node:worker_threads";
import type { WorkerOutcome, WriterReply, WriterRequest } from "./ingest-writer.ts";
import { SessionStore } from "./store.ts";

const port = parentPort!;
const reply = (m: WriterReply) => port.postMessage(m);

let store: SessionStore;
try {
  store = new SessionStore((workerData as { dbPath: string }).dbPath);
} catch (e) {
  reply({ type: "fatal", message: `cannot open the session database: ${(e as Error).message}` });
  throw e;
}

port.on("message", (m: WriterRequest) => {
  if (m.type !== "write") return;
  try {
    const outcomes = store
      .ingestPacked(m.sessionId, m.messages)
      .map((o): WorkerOutcome => (o.outcome === "stored" ? { outcome: "stored", keep: o.keep } : o));
    reply({ type: "written", id: m.id, outcomes });
  } catch (e) {
    reply({ type: "failed", id: m.id, message: (e as Error).message, code: (e as { code?: string }).code });
  }
});
reply({ type: "ready" });
