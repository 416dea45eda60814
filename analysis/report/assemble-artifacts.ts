// The report's artifact-backed parts, from artifacts already read (assemble.ts): the optional analyses (feature visualization, …) with their images, and the concept maps
// from the concepts artifact's clusters.json. Pure: the images and texts come in as data.
import type { ReportSource, SourceStimulus } from "./source.ts";
import type { ReportConcepts, ReportImage, ReportOptionalAnalysis } from "./types.ts";

const OPTIONAL_TITLES: Record<string, string> = {
  optvis: "Feature visualization",
  "feature-visualization": "Feature visualization",
  concepts: "Concept maps",
  "concept-maps": "Concept maps",
  "integrated-gradients": "Integrated-gradients saliency",
};
/** Artifact kinds with a section of their own, or none (the report's own files): never an optional analysis. */
export const NOT_OPTIONAL = new Set([
  "saliency",
  "report",
  "report-pdf",
  "concepts",
  "nwb",
  "channels-csv",
  "truth-csv",
]);
const MAX_IMAGES_PER_ITEM = 8;

export const finiteOrNull = (v: unknown): number | null =>
  typeof v === "number" && Number.isFinite(v) ? v : null;
export const asRecord = (v: unknown): Record<string, unknown> =>
  v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** `a/b` joined as node's path.join does for the plain folder + file names of artifacts. */
const joinPath = (folder: string, name: string) => `${folder.replace(/\/+$/, "")}/${name}`;

/**
 * Captions of a channel's synthesized images (an "optvis" artifact): the model's prediction stored with them and,
 * for those shown in phase 2 as stimuli (role "synthesized"), the recorded mean net rate — predicted vs recorded.
 */
function synthesizedCaptions(
  images: ReportImage[],
  folder: string,
  meta: Record<string, unknown>,
  stimuli: SourceStimulus[],
  rates: Map<string, number[]> | undefined,
): void {
  const stored = Array.isArray(meta.images) ? (meta.images as Array<Record<string, unknown>>) : [];
  for (const im of images) {
    const name = im.caption ?? "";
    const predicted = finiteOrNull(stored.find((e) => e.file === name)?.predicted);
    if (predicted === null) continue;
    const stimulus = stimuli.find((s) => s.role === "synthesized" && s.path === joinPath(folder, name));
    const trials = stimulus ? (rates?.get(stimulus.id) ?? []) : [];
    im.caption =
      `${name}: predicted ${predicted.toFixed(1)} spikes/s` +
      (trials.length
        ? `, recorded ${mean(trials).toFixed(1)} spikes/s (${trials.length} trials)`
        : stimulus
          ? ", not yet recorded"
          : " (not a phase-2 stimulus)");
  }
}

/** One section per other artifact kind, one item per artifact, with up to 8 of its images. */
export function optionalAnalyses(src: ReportSource): ReportOptionalAnalysis[] {
  const optional = new Map<string, ReportOptionalAnalysis>();
  for (const a of src.artifacts) {
    if (NOT_OPTIONAL.has(a.kind)) continue;
    const section = optional.get(a.kind) ?? {
      kind: a.kind,
      title: OPTIONAL_TITLES[a.kind] ?? a.kind,
      items: [],
    };
    optional.set(a.kind, section);
    const images = a.images
      .slice(0, MAX_IMAGES_PER_ITEM)
      .map((f) => ({ ...f.image, caption: f.image.caption ?? f.name }));
    if (a.kind === "optvis" && a.path && a.channelId)
      synthesizedCaptions(images, a.path, asRecord(a.meta), src.stimuli, src.rates2.get(a.channelId));
    section.items.push({ channelId: a.channelId, meta: asRecord(a.meta), images });
  }
  return [...optional.values()];
}

/** The concept maps from the newest "concepts" artifact's clusters.json (see controller/compute/concepts-job.ts). */
export function concepts(c: ReportSource["concepts"]): ReportConcepts | null {
  if (!c) return null;
  const meta = asRecord(c.meta);
  if ("error" in c.summary)
    return {
      images: Number(meta.images ?? 0),
      nodes: Number(meta.nodes ?? 0),
      channels: Number(meta.channels ?? 0),
      settings: meta,
      eigenvalues: [],
      montage: null,
      concepts: [],
      channelTable: [],
      note: `clusters.json could not be read from ${c.path} (${c.summary.error})`,
    };
  let summary: Record<string, unknown>;
  try {
    summary = asRecord(JSON.parse(c.summary.text));
  } catch (e) {
    return concepts({ ...c, summary: { error: (e as Error).message } });
  }
  const list = (v: unknown) => (Array.isArray(v) ? (v as unknown[]).map(asRecord) : []);
  return {
    images: Number(summary.images),
    nodes: Number(summary.nodes),
    channels: Number(summary.channels),
    settings: asRecord(summary.settings),
    eigenvalues: Array.isArray(summary.eigenvalues) ? (summary.eigenvalues as number[]) : [],
    montage: c.montage,
    concepts: list(summary.concepts).map((k) => ({
      id: Number(k.id),
      fraction: Number(k.fraction),
      color: (Array.isArray(k.color) ? k.color : [0, 0, 0]) as [number, number, number],
      channels: Array.isArray(k.channels) ? (k.channels as string[]) : [],
      topImages: list(k.topImages).map((t) => String(t.imageId)),
    })),
    channelTable: list(summary.channelTable).map((k) => ({
      channelId: String(k.channelId),
      dominant: Number(k.dominant),
      distribution: Array.isArray(k.distribution) ? (k.distribution as number[]) : [],
    })),
  };
}
