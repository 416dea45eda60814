// /stimulus/templates/presented_images: every image the session presented, as the display showed it: the file's
// pixels at its own size, EXIF orientation applied and any transparency composited onto the display's gray
// (controller/export/shown-images.ts), as uint8 RGBImage [height, width, 3] (rows first, as numpy reads
// an image). Each image is named after its stimulus id ("/" → ":") and described with the id, file and sha256;
// order_of_images fixes their indices. A file that is gone, or whose bytes no longer hash to the sha256 stored
// with the session, is not what was shown: it is left out and named in the notes.
// /stimulus/presentation/presentations: an IndexSeries of the shown presentations, data = template index,
// timestamps = onsets (s), linked to those images.
import type { StimulusRecord } from "../../store/store.ts";
import { decodedTemplates } from "../shown-images.ts";
import type { SessionClock } from "./clock.ts";
import { type Dataset, type Group, H5, numberAttr, numericDataset, refDataset, textAttr } from "./h5.ts";
import { markType, safeNames, typedGroup } from "./hdmf.ts";
import type { StoredTrial } from "./trials.ts";

export const TEMPLATES_NAME = "presented_images";

export interface TemplatesSummary {
  /** Stimulus id → index in order_of_images. */
  index: Map<string, number>;
  images: number;
  notes: string[];
}

/** Write the templates of the stimuli that `trials` presented (in the session's stimulus order). */
export async function writeTemplates(
  templates: Group,
  stimuli: StimulusRecord[],
  trials: StoredTrial[],
  onProgress?: (done: number, total: number) => void,
): Promise<TemplatesSummary> {
  const presented = new Set(trials.map((t) => t.stimulusId));
  const todo = stimuli.filter((s) => presented.has(s.id));
  const unknown = [...presented].filter((id) => !stimuli.some((s) => s.id === id));
  const notes: string[] = [];
  if (unknown.length)
    notes.push(
      `Presented stimuli missing from the session's stimulus table (no template): ${unknown.join(", ")}.`,
    );
  const index = new Map<string, number>();
  const names = safeNames(todo.map((s) => s.id));
  const written: Dataset[] = [];
  const missing: string[] = [];
  const changed: string[] = [];
  let group: Group | null = null;
  let i = 0;
  for await (const { stimulus: s, image, problem, message } of decodedTemplates(todo)) {
    onProgress?.(i, todo.length);
    const name = names[i++];
    if (!image) {
      if (problem === "unreadable")
        notes.push(`Stimulus ${s.id} could not be decoded, so has no template: ${message}.`);
      else (problem === "missing" ? missing : changed).push(`${s.id} (${s.path})`);
      continue;
    }
    group ??= imagesGroup(templates);
    const ds = numericDataset(group, name, image.data, H5.u8, [image.height, image.width, 3]);
    markType(ds, "RGBImage", "core");
    textAttr(
      ds,
      "description",
      `stimulus ${s.id} (set ${s.setId}, ${s.category}, ${s.role}): ${s.path}, sha256 ${s.sha256}; ` +
        "[height, width, RGB] as shown on the display's gray",
    );
    index.set(s.id, written.length);
    written.push(ds);
  }
  onProgress?.(todo.length, todo.length);
  if (group) {
    const order = refDataset(group, "order_of_images", written);
    markType(order, "ImageReferences", "core");
  }
  if (missing.length)
    notes.push(`Stimulus files no longer on disk, so without a template: ${missing.join(", ")}.`);
  if (changed.length)
    notes.push(
      `Stimulus files whose sha256 no longer matches the one stored with the session (changed since they were shown), so without a template: ${changed.join(", ")}.`,
    );
  return { index, images: written.length, notes };
}

function imagesGroup(templates: Group): Group {
  const group = typedGroup(templates, TEMPLATES_NAME, "Images", "core");
  textAttr(
    group,
    "description",
    "The images presented in this session as the display showed them; indexed by the trials' stimulus_template.",
  );
  return group;
}

/** The IndexSeries of shown presentations (skipped when none has a template). Returns its length. */
export function writePresentations(
  presentation: Group,
  templates: Group,
  trials: StoredTrial[],
  index: Map<string, number>,
  clock: SessionClock,
): number {
  const shown = trials.filter(
    (t) => t.status === "shown" && t.onsetMs !== undefined && index.has(t.stimulusId),
  );
  if (shown.length === 0) return 0;
  const series = typedGroup(presentation, "presentations", "IndexSeries", "core");
  textAttr(
    series,
    "description",
    "Onset of every shown presentation and the index of its image in /stimulus/templates/presented_images.",
  );
  const data = numericDataset(
    series,
    "data",
    Uint32Array.from(shown, (t) => index.get(t.stimulusId)!),
    H5.u32,
  );
  textAttr(data, "unit", "N/A");
  const timestamps = numericDataset(
    series,
    "timestamps",
    Float64Array.from(shown, (t) => clock.seconds(t.onsetMs!)),
    H5.f64,
  );
  numberAttr(timestamps, "interval", 1, H5.i32);
  textAttr(timestamps, "unit", "seconds");
  series.create_soft_link(`${templates.path}/${TEMPLATES_NAME}`, "indexed_images");
  return shown.length;
}
