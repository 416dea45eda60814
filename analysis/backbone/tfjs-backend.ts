// tfjs backend selection: tensorflow-gpu → tensorflow → wasm → cpu (or one forced by config).
import { createRequire } from "node:module";
import { dirname } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { BackboneError } from "./errors.ts";

export type TfjsBackendChoice = "auto" | "tensorflow-gpu" | "tensorflow" | "wasm" | "cpu";
export const TFJS_BACKEND_CHOICES: readonly TfjsBackendChoice[] = [
  "auto",
  "tensorflow-gpu",
  "tensorflow",
  "wasm",
  "cpu",
];

/** What runs: the tfjs backend name plus the package it came from (for logs and provenance). */
export interface SelectedBackend {
  /** tfjs backend name as tf.getBackend() reports it: "tensorflow", "wasm" or "cpu". */
  name: string;
  choice: Exclude<TfjsBackendChoice, "auto">;
  /** Packages tried before this one, each with why it was passed over. */
  skipped: string[];
}

const require = createRequire(import.meta.url);

/** Folder holding the wasm binaries of @tensorflow/tfjs-backend-wasm (with trailing slash). */
export function wasmBinariesFolder(): string {
  return `${dirname(require.resolve("@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm"))}/`;
}

async function importOptional(specifier: string): Promise<string | null> {
  try {
    await import(specifier);
    return null;
  } catch (e) {
    return (e as Error).message.split("\n")[0];
  }
}

async function tryTensorflow(pkg: string): Promise<string | null> {
  const failure = await importOptional(pkg);
  if (failure) return `${pkg}: ${failure}`;
  // The package may be a stub, or bound to another copy of tfjs-core: then no "tensorflow" backend shows up here.
  if (!tf.findBackendFactory("tensorflow"))
    return `${pkg}: no "tensorflow" backend registered with this tfjs-core`;
  if (!(await tf.setBackend("tensorflow"))) return `${pkg}: the "tensorflow" backend failed to initialize`;
  return null;
}

async function tryWasm(): Promise<string | null> {
  const failure = await importOptional("@tensorflow/tfjs-backend-wasm");
  if (failure) return `@tensorflow/tfjs-backend-wasm: ${failure}`;
  const wasm = await import("@tensorflow/tfjs-backend-wasm");
  wasm.setWasmPaths(wasmBinariesFolder());
  if (!(await tf.setBackend("wasm")))
    return `@tensorflow/tfjs-backend-wasm: the "wasm" backend failed to initialize`;
  return null;
}

async function tryCpu(): Promise<string | null> {
  const failure = await importOptional("@tensorflow/tfjs-backend-cpu");
  if (failure) return `@tensorflow/tfjs-backend-cpu: ${failure}`;
  if (!(await tf.setBackend("cpu")))
    return `@tensorflow/tfjs-backend-cpu: the "cpu" backend failed to initialize`;
  return null;
}

const ATTEMPTS: Record<Exclude<TfjsBackendChoice, "auto">, () => Promise<string | null>> = {
  "tensorflow-gpu": () => tryTensorflow("@tensorflow/tfjs-node-gpu"),
  tensorflow: () => tryTensorflow("@tensorflow/tfjs-node"),
  wasm: tryWasm,
  cpu: tryCpu,
};

/**
 * Make the chosen backend current. "auto" tries tfjs-node-gpu, tfjs-node, wasm, cpu in that order;
 * a forced choice that cannot start throws EPHYS_BAD_BACKBONE with the reason.
 */
export async function selectTfjsBackend(choice: TfjsBackendChoice = "auto"): Promise<SelectedBackend> {
  if (!TFJS_BACKEND_CHOICES.includes(choice)) {
    throw new BackboneError(
      "EPHYS_BAD_BACKBONE",
      `tfjs backend is ${JSON.stringify(choice)}; expected one of ${TFJS_BACKEND_CHOICES.join(", ")}`,
    );
  }
  const order: Exclude<TfjsBackendChoice, "auto">[] =
    choice === "auto" ? ["tensorflow-gpu", "tensorflow", "wasm", "cpu"] : [choice];
  const skipped: string[] = [];
  for (const candidate of order) {
    const failure = await ATTEMPTS[candidate]();
    if (failure === null) {
      await tf.ready();
      return { name: tf.getBackend(), choice: candidate, skipped };
    }
    skipped.push(failure);
  }
  throw new BackboneError("EPHYS_BAD_BACKBONE", `no tfjs backend could start: ${skipped.join("; ")}`);
}
