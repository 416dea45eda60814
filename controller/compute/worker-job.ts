// One job in a worker thread running a TypeScript module (through ts-worker.mjs): cancellable with an AbortSignal
// (the worker gets {type: "abort"}), settled once by the handler, by a worker error or by an early exit.
import { Worker } from "node:worker_threads";

export interface JobOutcome<R> {
  resolve(result: R): void;
  reject(error: Error): void;
}

export function runWorkerJob<M, R>(
  module: URL,
  data: object,
  onMessage: (message: M, outcome: JobOutcome<R>) => void,
  signal?: AbortSignal,
  name = "worker",
): Promise<R> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./ts-worker.mjs", import.meta.url), {
      workerData: { ...data, __module: module.href },
    });
    const onAbort = () => worker.postMessage({ type: "abort" });
    signal?.addEventListener("abort", onAbort, { once: true });
    let settled = false;
    const settle = (f: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      f();
      void worker.terminate();
    };
    const outcome: JobOutcome<R> = {
      resolve: (r) => settle(() => resolve(r)),
      reject: (e) => settle(() => reject(e)),
    };
    worker.on("message", (m: M) => onMessage(m, outcome));
    worker.on("error", (e) => outcome.reject(e));
    worker.on("exit", (code) => outcome.reject(new Error(`the ${name} exited with code ${code}`)));
  });
}

/** An error carrying the stable code the worker reported. */
export function workerError(m: { message: string; code?: string }): Error {
  return Object.assign(new Error(m.message), { code: m.code });
}

type Settling = { type: "done" } | { type: "error"; message: string; code?: string };

/**
 * A job whose worker posts messages until {type: "done"} (the promise resolves with `result` of that message) or
 * {type: "error"} (it rejects with workerError); every other message goes to `onMessage`.
 */
export function runMessageJob<M extends { type: string }, R = void>(
  module: URL,
  data: object,
  onMessage: (message: Exclude<M, Settling>) => void,
  signal: AbortSignal | undefined,
  name: string,
  result: (done: Extract<M, { type: "done" }>) => R = () => undefined as R,
): Promise<R> {
  return runWorkerJob<M, R>(
    module,
    data,
    (m, outcome) => {
      if (m.type === "done") outcome.resolve(result(m as Extract<M, { type: "done" }>));
      else if (m.type === "error")
        outcome.reject(workerError(m as unknown as { message: string; code?: string }));
      else onMessage(m as Exclude<M, Settling>);
    },
    signal,
    name,
  );
}
