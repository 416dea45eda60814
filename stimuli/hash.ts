// sha256 of stimulus files (streamed, never read whole) and of whole stimulus sets, checked against the manifest.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { EphysError } from "../analysis/errors.ts";
import { loadManifest } from "./manifest.ts";

/** Hex sha256 of a file's bytes, read as a stream. */
export function sha256File(path: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const hash = createHash("sha256");
    const stream = createReadStream(path);
    stream.on("data", (chunk) => hash.update(chunk));
    stream.on("error", reject);
    stream.on("end", () => resolvePromise(hash.digest("hex")));
  });
}

export interface HashedImage {
  id: string;
  category: string;
  /** Absolute path of the image file. */
  path: string;
  /** sha256 of the file as it is on disk now. */
  sha256: string;
}

export interface HashedStimulusSet {
  /** Absolute path of the manifest. */
  manifestPath: string;
  set: string;
  images: HashedImage[];
  /** sha256 over the sorted lines `<id> <sha256>\n`: one fingerprint for the set's content and ids. */
  digest: string;
}

export interface HashMismatch {
  id: string;
  path: string;
  recorded: string;
  actual: string;
}

export class HashMismatchError extends EphysError<"EPHYS_HASH_MISMATCH"> {
  constructor(
    readonly manifestPath: string,
    readonly mismatches: HashMismatch[],
  ) {
    super(
      "EPHYS_HASH_MISMATCH",
      `${manifestPath}: ${mismatches.length} file(s) differ from the sha256 recorded in the manifest\n` +
        mismatches
          .map((m) => `  ${m.path} (id ${m.id}): expected sha256 ${m.recorded}; found ${m.actual}`)
          .join("\n"),
    );
  }
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Fingerprint of a set: sha256 over `<id> <sha256>\n` lines sorted by id. */
export function setDigest(images: ReadonlyArray<Pick<HashedImage, "id" | "sha256">>): string {
  const lines = images.map((im) => `${im.id} ${im.sha256}\n`).sort();
  return createHash("sha256").update(lines.join("")).digest("hex");
}

/**
 * Load a manifest (EPHYS_BAD_MANIFEST on a bad one), hash every image, and compare with the recorded sha256s:
 * any difference throws HashMismatchError (EPHYS_HASH_MISMATCH) naming every differing file.
 */
export async function hashStimulusSet(manifestPath: string): Promise<HashedStimulusSet> {
  const manifest = loadManifest(manifestPath);
  const sums = await mapLimit(manifest.images, 8, (img) => sha256File(img.absPath));
  const images = manifest.images.map(
    (img, i): HashedImage => ({ id: img.id, category: img.category, path: img.absPath, sha256: sums[i] }),
  );
  const mismatches: HashMismatch[] = [];
  manifest.images.forEach((img, i) => {
    if (img.sha256 !== undefined && img.sha256 !== sums[i]) {
      mismatches.push({ id: img.id, path: img.absPath, recorded: img.sha256, actual: sums[i] });
    }
  });
  if (mismatches.length > 0) throw new HashMismatchError(manifest.path, mismatches);
  return { manifestPath: manifest.path, set: manifest.set, images, digest: setDigest(images) };
}
