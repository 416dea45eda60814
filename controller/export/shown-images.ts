// The presented stimuli's pixels as the display showed them, decoded a few at a time: the file's pixels at its own
// size, EXIF orientation applied, transparency composited onto the display's gray (stimuli/image.ts
// loadImageRGBBytes), after checking that the file still hashes to the sha256 stored with the session.
import { existsSync } from "node:fs";
import { loadImageRGBBytes, sha256File } from "../../stimuli/index.ts";
import type { StimulusRecord } from "../store/store.ts";

export interface DecodedTemplate {
  stimulus: StimulusRecord;
  /** uint8 [height, width, 3]; absent when the file is gone or changed. */
  image?: { data: Uint8Array; width: number; height: number };
  problem?: "missing" | "changed" | "unreadable";
  /** What the decoder said about an unreadable file. */
  message?: string;
}

async function decode(s: StimulusRecord): Promise<DecodedTemplate> {
  if (!existsSync(s.path)) return { stimulus: s, problem: "missing" };
  if ((await sha256File(s.path)) !== s.sha256) return { stimulus: s, problem: "changed" };
  try {
    return { stimulus: s, image: await loadImageRGBBytes(s.path) };
  } catch (e) {
    return { stimulus: s, problem: "unreadable", message: (e as Error).message };
  }
}

/**
 * The stimuli's pixels as shown, in order, with `ahead` files hashed and decoded concurrently (libvips uses the
 * other cores meanwhile); at most `ahead` decoded images are held.
 */
export async function* decodedTemplates(
  stimuli: StimulusRecord[],
  ahead = 3,
): AsyncGenerator<DecodedTemplate> {
  const pending: Array<Promise<DecodedTemplate>> = [];
  let next = 0;
  while (next < stimuli.length || pending.length) {
    while (next < stimuli.length && pending.length < ahead) pending.push(decode(stimuli[next++]));
    yield await pending.shift()!;
  }
}
