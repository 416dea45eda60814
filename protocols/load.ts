// Reading a protocol file: validated, with its text and sha256 kept for provenance.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { type Protocol, protocolSchema } from "./schema.ts";
import { parseYamlWith } from "./yaml-source.ts";

export interface LoadedProtocol {
  protocol: Protocol;
  /** The file's text exactly as read, stored with the session. */
  text: string;
  sha256: string;
  /** Absolute path of the file; manifests resolve relative to its folder. */
  path: string;
}

export function parseProtocol(text: string, file = "protocol.yaml"): Protocol {
  return parseYamlWith(protocolSchema, text, file);
}

export function loadProtocol(file: string): LoadedProtocol {
  const path = resolve(file);
  const text = readFileSync(path, "utf8");
  const protocol = parseProtocol(text, file);
  return { protocol, text, sha256: createHash("sha256").update(text).digest("hex"), path };
}

/** Manifest paths in a protocol are relative to the protocol file's folder. */
export function resolveManifest(loaded: Pick<LoadedProtocol, "path">, manifest: string): string {
  return resolve(dirname(loaded.path), manifest);
}
