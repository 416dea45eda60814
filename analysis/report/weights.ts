// Which backbone weights a session ran, from the contents of its backbone/loaded records (one per compute step that
// loaded a backbone: { weightsSha256, weightsSource, weightsKind, executor }), for the report's provenance.
import type { ReportWeights } from "./types.ts";

const KINDS = new Set(["standard", "robust"]);

/** The distinct weights in `records` (parsed record contents), in the order first seen; malformed ones skipped. */
export function weightsThatRan(records: readonly unknown[]): ReportWeights[] {
  const out: ReportWeights[] = [];
  for (const r of records) {
    if (!r || typeof r !== "object") continue;
    const { weightsSha256, weightsSource, weightsKind } = r as Record<string, unknown>;
    if (typeof weightsSha256 !== "string" || !/^[0-9a-f]{64}$/.test(weightsSha256)) continue;
    const w: ReportWeights = {
      source: typeof weightsSource === "string" ? weightsSource : "not recorded",
      sha256: weightsSha256,
      kind:
        typeof weightsKind === "string" && KINDS.has(weightsKind)
          ? (weightsKind as ReportWeights["kind"])
          : null,
    };
    if (!out.some((o) => o.sha256 === w.sha256 && o.source === w.source && o.kind === w.kind)) out.push(w);
  }
  return out;
}
