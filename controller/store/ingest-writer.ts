// Who runs the acquisition transactions: the calling thread (inline), or a worker thread with its own SQLite
// connection to the same file (writer-worker.ts), so that parsing the next messages goes on while a commit waits
// for its fsync. Either way a write resolves only after its transaction has committed, and rejects when it was
// rolled back; the acquisition hub sends its acks from there.
import { Worker } from "node:worker_threads";
import { type PackedTrial, subsetChannels } from "./packed.ts";
import type { IngestOutcome, SessionStore } from "./store.ts";

export interface IngestWriter {
  /** One transaction for these messages (SessionStore.ingestPacked); resolves after the commit. */
  write(sessionId: string, messages: readonly PackedTrial[]): Promise<IngestOutcome[]>;
  /** Waits for the write in flight, then stops (a worker closes its connection). */
  close(): Promise<void>;
  readonly kind: "inline" | "worker";
}

/** The transaction runs in the calling thread, on `store`'s connection. */
export function inlineWriter(store: SessionStore): IngestWriter {
  return {
    kind: "inline",
    write: async (sessionId, messages) => store.ingestPacked(sessionId, messages),
    close: async () => {},
  };
}

/** What the worker answers per message: the outcome without the packed data (the caller still holds them). */
export type WorkerOutcome =
  | { outcome: "stored"; keep: number[] | null }
  | { outcome: "duplicate" }
  | { outcome: "conflict"; storedTrialId: number };

export type WriterRequest = {
  type: "write";
  id: number;
  sessionId: string;
  messages: readonly PackedTrial[];
};
export type WriterReply =
  | { type: "ready" }
  | { type: "written"; id: number; outcomes: WorkerOutcome[] }
  | { type: "failed"; id: number; message: string; code?: string }
  | { type: "fatal"; message: string };

/**
 * A worker thread that opens `dbPath` (already migrated by the caller) and runs each write as one transaction.
 * Resolves once the worker has opened the database.
 */
export async function startWriterWorker(dbPath: string): Promise<IngestWriter> {
  const worker = new Worker(new URL("../compute/ts-worker.mjs", import.meta.url), {
    workerData: { dbPath, __module: new URL("./writer-worker.ts", import.meta.url).href },
  });
  const pending = new Map<
    number,
    {
      messages: readonly PackedTrial[];
      resolve: (o: IngestOutcome[]) => void;
      reject: (e: Error) => void;
    }
  >();
  let nextId = 1;
  let dead: Error | null = null;
  const fail = (e: Error) => {
    dead ??= e;
    for (const p of pending.values()) p.reject(dead);
    pending.clear();
  };
  await new Promise<void>((resolve, reject) => {
    worker.on("message", (m: WriterReply) => {
      if (m.type === "ready") return resolve();
      if (m.type === "fatal") {
        const e = Object.assign(new Error(`ingest writer: ${m.message}`), { code: "EPHYS_STORE_FAILED" });
        fail(e);
        return reject(e);
      }
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.type === "failed") return p.reject(Object.assign(new Error(m.message), { code: m.code }));
      p.resolve(
        m.outcomes.map((o, i): IngestOutcome => {
          if (o.outcome !== "stored") return o;
          const message = p.messages[i];
          const part =
            o.keep === null ? message : o.keep.length === 0 ? null : subsetChannels(message, o.keep);
          return { outcome: "stored", part, keep: o.keep };
        }),
      );
    });
    worker.on("error", (e) => {
      fail(e);
      reject(e);
    });
    worker.on("exit", (code) => {
      const e = Object.assign(new Error(`the ingest writer exited with code ${code}`), {
        code: "EPHYS_STORE_FAILED",
      });
      fail(e);
      reject(e);
    });
  });
  let closing: Promise<void> | null = null;
  const inFlight = new Set<Promise<IngestOutcome[]>>();
  return {
    kind: "worker",
    write(sessionId, messages) {
      if (dead) return Promise.reject(dead);
      if (closing)
        return Promise.reject(
          Object.assign(new Error("the ingest writer is closed"), { code: "EPHYS_STORE_FAILED" }),
        );
      const id = nextId++;
      const written = new Promise<IngestOutcome[]>((resolve, reject) => {
        pending.set(id, { messages, resolve, reject });
        worker.postMessage({ type: "write", id, sessionId, messages } satisfies WriterRequest);
      });
      inFlight.add(written);
      const forget = () => inFlight.delete(written);
      written.then(forget, forget);
      return written;
    },
    close() {
      closing ??= (async () => {
        await Promise.allSettled([...inFlight]);
        worker.removeAllListeners("exit");
        await worker.terminate();
      })();
      return closing;
    },
  };
}
