// A persistent PyTorch process for the benches' baselines: Debian's /usr/bin/python3 (which has torch) runs a script
// that prints "ready <torch version> <threads>" and then answers each command line with one number (seconds).
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { createInterface } from "node:readline";

export class PytorchWorker {
  private readonly lines: AsyncIterator<string>;
  private constructor(private readonly proc: ChildProcessWithoutNullStreams) {
    this.lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  }

  /** Start `script` (Python source) with `args`; resolves once it printed its "ready" line. */
  static async start(
    script: string,
    args: string[] = [],
  ): Promise<{ worker: PytorchWorker; version: string; threads: number }> {
    const proc = spawn("/usr/bin/python3", ["-c", script, ...args]);
    let stderr = "";
    proc.stderr.on("data", (d) => {
      stderr += d;
    });
    const worker = new PytorchWorker(proc);
    const first = await worker.lines.next();
    if (first.done || !first.value.startsWith("ready")) {
      throw new Error(`PyTorch worker did not start: ${stderr || first.value}`);
    }
    const [, version, threads] = first.value.split(" ");
    return { worker, version, threads: Number(threads) };
  }

  /** Send one command line; its one-number answer. */
  async ask(command: string): Promise<number> {
    this.proc.stdin.write(`${command}\n`);
    const r = await this.lines.next();
    if (r.done) throw new Error(`PyTorch worker exited on "${command}"`);
    const v = Number(r.value);
    if (!Number.isFinite(v)) throw new Error(`PyTorch worker answered "${r.value}" to "${command}"`);
    return v;
  }

  stop(): void {
    this.proc.stdin.end("quit\n");
  }
}
