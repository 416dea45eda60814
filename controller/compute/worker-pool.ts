// A pool of worker threads that each own some heavy state (one backbone executor, one tfjs backend) and run many
// tasks on it. Generic: a job module + data per worker + data per task.
//   main thread:  WorkerPool.start(moduleUrl, initOf(i), size) → pool.run(task, transfer) → result
//   job module:   servePool(async (init) => ({ info, run(task) → { result, transfer }, dispose() }))
// Each worker runs the module through ts-worker.mjs (Node 20 workers ignore `--import tsx`), gets its init data
// as workerData, builds its state once and answers "ready" (with `info`, e.g. the weights' sha256); tasks go to
// the first idle worker, in order, one at a time per worker. A task's error rejects only that task (with the code
// the worker reported); a worker that dies rejects its task and everything queued, and the pool stays failed.
import { parentPort, Worker, workerData } from "node:worker_threads";
import { EphysError } from "../../analysis/errors.ts";

type Request = { type: "task"; id: number; task: unknown } | { type: "close" };
type Reply =
  | { type: "ready"; info: unknown }
  | { type: "result"; id: number; result: unknown }
  | { type: "error"; id: number; message: string; code?: string }
  | { type: "failed"; message: string; code?: string }; // the job's setup threw

export interface PoolJob<T, R> {
  run(task: T): Promise<{ result: R; transfer?: ArrayBuffer[] }>;
  dispose?(): Promise<void>;
}

/** Errors from a pool keep the code the worker's error carried (e.g. EPHYS_BAD_FEATURE_REQUEST). */
export class WorkerPoolError extends EphysError {
  constructor(message: string, code = "EPHYS_WORKER_FAILED") {
    super(code, message);
  }
}

interface Pending<R> {
  resolve(r: R): void;
  reject(e: Error): void;
}

interface Queued {
  id: number;
  task: unknown;
  transfer: ArrayBuffer[];
}

class PoolWorker {
  busy: number | null = null;
  exited = false;
  info: unknown = null;
  /** Settles when the job has been built (or failed to be). */
  readonly ready: Promise<void>;
  setReady!: (info: unknown) => void;
  failStart!: (e: Error) => void;
  constructor(readonly worker: Worker) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.setReady = (info) => {
        this.info = info;
        resolve();
      };
      this.failStart = reject;
    });
    this.ready.catch(() => undefined); // awaited in start()
  }
}

export class WorkerPool<T, R, I = unknown> {
  private readonly queue: Queued[] = [];
  private readonly pending = new Map<number, Pending<R>>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private nextId = 1;
  private failure: Error | null = null;
  private closed = false;
  private stopping = false;

  private constructor(
    private readonly workers: PoolWorker[],
    readonly name: string,
  ) {
    for (const w of workers) {
      w.worker.on("message", (m: Reply) => this.onReply(w, m));
      w.worker.on("error", (e) => this.fail(e));
      w.worker.on("exit", (code) => {
        w.exited = true;
        if (!this.stopping) this.fail(new WorkerPoolError(`the ${name} worker exited with code ${code}`));
      });
    }
  }

  /** Workers in the pool. */
  get size(): number {
    return this.workers.length;
  }

  /** What each worker's job reported when it was ready (in worker order). */
  get infos(): I[] {
    return this.workers.map((w) => w.info as I);
  }

  /**
   * Start `size` workers running `module` (which calls servePool), worker i with workerData `initOf(i)`;
   * resolves once every one is ready, or rejects with the first setup error (all workers then terminated).
   */
  static async start<T, R, I = unknown>(
    module: URL,
    initOf: (index: number) => object,
    size: number,
    name = "pool",
  ): Promise<WorkerPool<T, R, I>> {
    if (!Number.isInteger(size) || size < 1) {
      throw new WorkerPoolError(`size: got ${size}, expected a whole number ≥ 1`, "EPHYS_BAD_POOL");
    }
    const workers = Array.from(
      { length: size },
      (_, i) =>
        new PoolWorker(
          new Worker(new URL("./ts-worker.mjs", import.meta.url), {
            workerData: { ...initOf(i), __module: module.href },
          }),
        ),
    );
    const pool = new WorkerPool<T, R, I>(workers, name);
    try {
      await Promise.all(workers.map((w) => w.ready));
    } catch (e) {
      pool.stopping = true;
      await Promise.all(workers.map((w) => w.worker.terminate()));
      throw e;
    }
    return pool;
  }

  /** Run one task on the first idle worker (queued in order while all are busy). */
  run(task: T, transfer: ArrayBuffer[] = []): Promise<R> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new WorkerPoolError(`the ${this.name} pool is closed`));
    const id = this.nextId++;
    const done = new Promise<R>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.queue.push({ id, task, transfer });
    const settled = done.then(
      () => undefined,
      () => undefined,
    );
    this.inFlight.add(settled);
    void settled.then(() => this.inFlight.delete(settled));
    this.dispatch();
    return done;
  }

  /** Finish the tasks given so far, let each job dispose of its state, and stop the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.inFlight);
    this.stopping = true;
    await Promise.all(
      this.workers
        .filter((w) => !w.exited)
        .map(
          (w) =>
            new Promise<void>((resolve) => {
              w.worker.once("exit", () => resolve());
              w.worker.postMessage({ type: "close" } satisfies Request);
              setTimeout(() => void w.worker.terminate(), 10_000).unref();
            }),
        ),
    );
  }

  private dispatch(): void {
    for (const w of this.workers) {
      if (this.queue.length === 0) return;
      if (w.busy !== null) continue;
      const next = this.queue.shift()!;
      w.busy = next.id;
      w.worker.postMessage({ type: "task", id: next.id, task: next.task } satisfies Request, next.transfer);
    }
  }

  private onReply(w: PoolWorker, m: Reply): void {
    if (m.type === "ready") return w.setReady(m.info);
    if (m.type === "failed") return w.failStart(new WorkerPoolError(m.message, m.code));
    const { id } = m;
    const waiter = this.pending.get(id);
    this.pending.delete(id);
    if (w.busy === id) w.busy = null;
    if (m.type === "result") waiter?.resolve(m.result as R);
    else waiter?.reject(new WorkerPoolError(m.message, m.code));
    this.dispatch();
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e instanceof WorkerPoolError ? e : new WorkerPoolError(e.message);
    for (const w of this.workers) w.failStart(this.failure);
    for (const waiter of this.pending.values()) waiter.reject(this.failure);
    this.pending.clear();
    this.queue.length = 0;
    for (const w of this.workers) void w.worker.terminate();
  }
}

/** Bounds of min(parts, n) contiguous parts of n items, as even as rounding makes them: part i is bounds[i]..bounds[i+1]. */
export function partBounds(n: number, parts: number): number[] {
  const count = Math.min(parts, n);
  return Array.from({ length: count + 1 }, (_, i) => Math.round((i * n) / count));
}

/**
 * A result's values with the buffer to move back to the main thread rather than copy: the array itself when it
 * owns its whole buffer, else (a view on a larger buffer) a copy of it.
 */
export function movable(data: Float32Array): { data: Float32Array; transfer: ArrayBuffer[] } {
  const whole = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
  const own = whole ? data : data.slice();
  return { data: own, transfer: [own.buffer as ArrayBuffer] };
}

/**
 * The worker side (call once at the top level of a job module): builds the job from workerData, answers "ready"
 * with `info`, then runs each task and answers with its result (its `transfer` buffers moved, not copied).
 */
export function servePool<Init, T, R>(
  setup: (init: Init) => Promise<{ info?: unknown; job: PoolJob<T, R> }>,
): void {
  const port = parentPort;
  if (!port) throw new WorkerPoolError("servePool: not in a worker thread", "EPHYS_BAD_POOL");
  const post = (m: Reply, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
  const errorOf = (e: unknown) => ({
    message: (e as Error).message ?? String(e),
    code: (e as { code?: string }).code,
  });
  setup(workerData as Init).then(
    ({ info, job }) => {
      port.on("message", (m: Request) => {
        if (m.type === "close") {
          void (job.dispose?.() ?? Promise.resolve()).finally(() => process.exit(0));
          return;
        }
        job.run(m.task as T).then(
          ({ result, transfer }) => post({ type: "result", id: m.id, result }, transfer),
          (e: unknown) => post({ type: "error", id: m.id, ...errorOf(e) }),
        );
      });
      post({ type: "ready", info: info ?? null });
    },
    (e: unknown) => post({ type: "failed", ...errorOf(e) }),
  );
}
