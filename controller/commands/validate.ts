// `ephysloop validate FILE`: every problem of a protocol file with its YAML path, line and column, the value found
// and what was expected; then the stimulus manifests it names (warnings while they are absent).
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Protocol } from "../../protocols/index.ts";
import { formatProblem, parseProtocol, resolveManifest, SourceError } from "../../protocols/index.ts";
import { loadManifest } from "../../stimuli/index.ts";

export interface ValidationReport {
  ok: boolean;
  errors: string[];
  warnings: string[];
}

export function validateProtocolFile(file: string): ValidationReport {
  const errors: string[] = [];
  const warnings: string[] = [];
  if (!existsSync(file)) return { ok: false, errors: [`${file}: no such file`], warnings };
  const text = readFileSync(file, "utf8");
  let protocol: Protocol;
  try {
    protocol = parseProtocol(text, file);
  } catch (e) {
    if (e instanceof SourceError)
      return { ok: false, errors: e.problems.map((p) => formatProblem(file, p)), warnings };
    throw e;
  }
  const loaded = { path: resolve(file) };
  let preferred = 0;
  for (const [i, set] of protocol.stimulusSets.entries()) {
    const path = resolveManifest(loaded, set.manifest);
    if (!existsSync(path)) {
      warnings.push(
        `${file}: stimulusSets[${i}].manifest: ${set.manifest} not found (resolved to ${path}); serve will refuse to start without it`,
      );
      continue;
    }
    try {
      const m = loadManifest(path);
      if (set.role === "preferred") preferred += m.images.length;
    } catch (e) {
      errors.push(`${file}: stimulusSets[${i}].manifest: ${(e as Error).message}`);
    }
  }
  const { train, validation, test } = protocol.model.split;
  if (preferred > 0 && train + validation + test > preferred)
    errors.push(
      `${file}: model.split: expected train + validation + test ≤ ${preferred} preferred images; found ${train} + ${validation} + ${test} = ${train + validation + test}`,
    );
  if (preferred > 0 && protocol.selection.retestCount > preferred)
    errors.push(
      `${file}: selection.retestCount: expected ≤ ${preferred} preferred images; found ${protocol.selection.retestCount}`,
    );
  return { ok: errors.length === 0, errors, warnings };
}
