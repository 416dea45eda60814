// A stimulus set's manifest: which images, where (relative to the manifest), their category and, for provenance,
// their sha256, source and licence. Loading reports every problem at once, each naming the entry, field and value.
import { readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { EphysError } from "../analysis/errors.ts";

const sha256Hex = /^[0-9a-f]{64}$/;

export const manifestImageSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "expected an id of letters, digits, _, . or -"),
  path: z
    .string()
    .min(1, "expected a file path relative to the manifest")
    .refine((p) => !isAbsolute(p), "expected a path relative to the manifest, not an absolute path"),
  category: z.string().min(1, "expected a category name, e.g. body or object"),
  sha256: z.string().regex(sha256Hex, "expected 64 lowercase hex digits").optional(),
  source: z.string().optional(),
  license: z.string().optional(),
});

export const manifestSchema = z.strictObject({
  version: z.literal(1, { error: "expected version: 1" }),
  set: z.string().min(1, "expected the set's name"),
  images: z.array(manifestImageSchema).min(1, "expected at least one image"),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type ManifestImage = z.infer<typeof manifestImageSchema>;

/** A manifest entry with its file resolved against the manifest's folder. */
export interface ResolvedImage extends ManifestImage {
  /** Absolute path of the image file. */
  absPath: string;
}

export interface LoadedManifest {
  /** Absolute path of the manifest file. */
  path: string;
  set: string;
  images: ResolvedImage[];
}

export interface ManifestProblem {
  /** Index into images[], when the problem belongs to one entry. */
  index?: number;
  /** Dotted field path, e.g. images[3].path, or "(document)". */
  field: string;
  /** The value found there (JSON), or "(missing)". */
  found: string;
  expected: string;
}

export class ManifestError extends EphysError<"EPHYS_BAD_MANIFEST"> {
  constructor(
    readonly file: string,
    readonly problems: ManifestProblem[],
  ) {
    super(
      "EPHYS_BAD_MANIFEST",
      `${file}: ${problems.length} problem(s) in the stimulus manifest\n` +
        problems.map((p) => `  ${p.field}: expected ${p.expected}; found ${p.found}`).join("\n"),
    );
  }
}

function describe(value: unknown): string {
  if (value === undefined) return "(missing)";
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function fieldOf(path: ReadonlyArray<PropertyKey>): string {
  let out = "";
  for (const key of path) out += typeof key === "number" ? `[${key}]` : out ? `.${String(key)}` : String(key);
  return out || "(document)";
}

/** Every entry whose path is a usable relative string but names no existing file (checked even when the schema fails). */
function missingFiles(data: unknown, dir: string): ManifestProblem[] {
  const images = (data as { images?: unknown } | null)?.images;
  if (!Array.isArray(images)) return [];
  const out: ManifestProblem[] = [];
  images.forEach((entry: unknown, index) => {
    const rel = (entry as { path?: unknown } | null)?.path;
    if (typeof rel !== "string" || rel === "" || isAbsolute(rel)) return;
    const abs = resolve(dir, rel);
    let isFile = false;
    try {
      isFile = statSync(abs).isFile();
    } catch {
      isFile = false;
    }
    if (!isFile) {
      out.push({
        index,
        field: `images[${index}].path`,
        found: describe(rel),
        expected: `an existing image file (looked for ${abs})`,
      });
    }
  });
  return out;
}

/** Repeated ids, found on the raw data so they are reported even when other fields are wrong. */
function duplicateIds(data: unknown): ManifestProblem[] {
  const images = (data as { images?: unknown } | null)?.images;
  if (!Array.isArray(images)) return [];
  const seen = new Map<string, number>();
  const out: ManifestProblem[] = [];
  images.forEach((entry: unknown, index) => {
    const id = (entry as { id?: unknown } | null)?.id;
    if (typeof id !== "string") return;
    const first = seen.get(id);
    if (first === undefined) seen.set(id, index);
    else
      out.push({
        index,
        field: `images[${index}].id`,
        found: describe(id),
        expected: `a unique id (already used by images[${first}])`,
      });
  });
  return out;
}

const byEntry = (a: ManifestProblem, b: ManifestProblem): number => (a.index ?? -1) - (b.index ?? -1);

export interface ParseManifestOptions {
  /** Check that every image file exists (default true). */
  checkFiles?: boolean;
}

/**
 * Validate manifest JSON text. `file` is the manifest's path: image paths resolve against its folder.
 * Throws ManifestError (EPHYS_BAD_MANIFEST) listing every schema problem and every missing file.
 */
export function parseManifest(
  text: string,
  file: string,
  options: ParseManifestOptions = {},
): LoadedManifest {
  const path = resolve(file);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ManifestError(file, [
      { field: "(document)", found: "invalid JSON", expected: `a JSON object (${(err as Error).message})` },
    ]);
  }
  const dir = dirname(path);
  const fileProblems = [
    ...duplicateIds(data),
    ...(options.checkFiles === false ? [] : missingFiles(data, dir)),
  ];
  const result = manifestSchema.safeParse(data, { reportInput: true });
  if (!result.success) {
    const problems = result.error.issues.map((issue): ManifestProblem => {
      const p = issue.path;
      const index = p[0] === "images" && typeof p[1] === "number" ? p[1] : undefined;
      const found =
        issue.code === "unrecognized_keys"
          ? `unknown key ${describe(issue.keys[0])}`
          : describe((issue as { input?: unknown }).input);
      const expected =
        issue.code === "unrecognized_keys"
          ? `only ${index === undefined ? "version, set, images" : "id, path, category, sha256, source, license"} (check the spelling)`
          : issue.message.replace(/^Invalid input:\s*/i, "").replace(/^expected\s+/i, "");
      const field = fieldOf(issue.code === "unrecognized_keys" ? [...p, issue.keys[0]] : p);
      return { index, field, found, expected };
    });
    throw new ManifestError(file, [...problems, ...fileProblems].sort(byEntry));
  }
  if (fileProblems.length > 0) throw new ManifestError(file, fileProblems.sort(byEntry));
  const images = result.data.images.map((img) => ({ ...img, absPath: resolve(dir, img.path) }));
  return { path, set: result.data.set, images };
}

/** Read and validate a manifest file; see parseManifest. */
export function loadManifest(file: string, options: ParseManifestOptions = {}): LoadedManifest {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ManifestError(file, [
      {
        field: "(document)",
        found: "(unreadable)",
        expected: `a readable manifest file (${(err as Error).message})`,
      },
    ]);
  }
  return parseManifest(text, file, options);
}
