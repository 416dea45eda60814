// The stimulus id of a phase-3 fragment names what it was cut from: fragment/<channel>/<kind><n>/<parent id>, so a
// reader of the store, the report or the simulated neurons knows a fragment's channel, kind and parent image.
export type FragmentKind = "highlighted" | "complement" | "random" | "full";

export interface FragmentName {
  channelId: string;
  kind: FragmentKind;
  /** 1-based index of a random fragment; 0 for the other kinds. */
  n: number;
  parentId: string;
}

const KINDS: readonly FragmentKind[] = ["highlighted", "complement", "random", "full"];

/** Channel ids become one path segment: anything outside [A-Za-z0-9._-] is written as "_". */
const segment = (id: string) => id.replace(/[^A-Za-z0-9._-]/g, "_");

export function fragmentId(f: FragmentName): string {
  return `fragment/${segment(f.channelId)}/${f.kind}${f.kind === "random" ? f.n : ""}/${f.parentId}`;
}

/** The parts of a fragment id (the channel as written in the id), or null for any other stimulus id. */
export function parseFragmentId(id: string): FragmentName | null {
  const m = /^fragment\/([A-Za-z0-9._-]+)\/([a-z]+)(\d*)\/(.+)$/.exec(id);
  if (!m) return null;
  const kind = m[2] as FragmentKind;
  if (!KINDS.includes(kind) || (kind === "random") !== (m[3] !== "")) return null;
  return { channelId: m[1], kind, n: m[3] ? Number(m[3]) : 0, parentId: m[4] };
}
