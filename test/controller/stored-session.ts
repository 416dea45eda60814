// A small stored session for the analysis commands' tests: the demo protocol on the w8 ResNet-18 fixture at 64 px,
// demo stimuli with their hashes, and fitted Gaussian readouts, in a real SessionStore.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type Config, loadConfig } from "../../config/index.ts";
import type { SessionStore } from "../../controller/store/store.ts";
import { sha256File } from "../../stimuli/hash.ts";

export const REPO = join(import.meta.dirname, "..", "..");
export const DEMO_PROTOCOL = join(REPO, "protocols", "demo.yaml");
export const W8_RESNET18 = join(REPO, "test", "fixtures", "backbone", "resnet18-w8.safetensors");

/** demo.yaml with the model switched to ResNet-18 (torchvision) at 64 px. */
export function smallDemoProtocol(): string {
  return readFileSync(DEMO_PROTOCOL, "utf8")
    .replace("backbone: resnet50", "backbone: resnet18")
    .replace("variant: keras", "variant: torchvision")
    .replace("imageSize: 224", "imageSize: 64");
}

/** A config on `dataDir` with the w8 ResNet-18 weights and the wasm tfjs backend. */
export function w8Config(dataDir: string): Config {
  return loadConfig({
    env: {},
    flags: {
      dataDir,
      "weights.path": W8_RESNET18,
      "weights.arch": "resnet18",
      "compute.tfjsBackend": "wasm",
    },
  });
}

/** A session of the demo protocol with this text (sha256 zeros, seed 7). */
export function createDemoSession(store: SessionStore, sessionId: string, protocolText: string): void {
  store.createSession({
    id: sessionId,
    protocolName: "demo",
    protocolPath: DEMO_PROTOCOL,
    protocolText,
    protocolSha256: "0".repeat(64),
    codeVersion: "test",
    software: {},
    seed: 7,
  });
}

/** Stores stimuli/demo/<set>/<name>.png as stimulus "<set>/<name>" (category body for "bodies", else object). */
export async function insertDemoStimuli(
  store: SessionStore,
  sessionId: string,
  files: ReadonlyArray<readonly [set: string, name: string, role: string]>,
): Promise<void> {
  const stimuli = await Promise.all(
    files.map(async ([set, id, role]) => {
      const path = join(REPO, "stimuli", "demo", set, `${id}.png`);
      return {
        id: `${set}/${id}`,
        setId: set,
        category: set === "bodies" ? "body" : "object",
        role,
        path,
        sha256: await sha256File(path),
      };
    }),
  );
  store.insertStimuli(sessionId, stimuli);
}

/** Stores each params object as the channel's "gaussian-readout" model (no metrics). */
export function saveReadouts(
  store: SessionStore,
  sessionId: string,
  readouts: ReadonlyArray<{ channelId: string }>,
): void {
  store.saveModels(
    sessionId,
    readouts.map((params) => ({
      channelId: params.channelId,
      kind: "gaussian-readout",
      params,
      metrics: {},
    })),
  );
}
