// YAML text → validated value, with every schema problem located by its YAML path, line and column.
import { isNode, LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
import { EphysError } from "../analysis/errors.ts";

export interface SourceProblem {
  /** Dotted path into the document, e.g. presentation.stimulusMs or stimulusSets[1].role. */
  path: string;
  line: number;
  column: number;
  /** The value found there, as YAML would print it, or "(missing)". */
  found: string;
  expected: string;
}

export class SourceError extends EphysError<"EPHYS_BAD_SOURCE"> {
  constructor(
    readonly file: string,
    readonly problems: SourceProblem[],
  ) {
    super(
      "EPHYS_BAD_SOURCE",
      `${file}: ${problems.length} problem(s)\n${problems.map((p) => formatProblem(file, p)).join("\n")}`,
    );
  }
}

export function formatProblem(file: string, p: SourceProblem): string {
  return `${file}:${p.line}:${p.column} ${p.path || "(document)"}: expected ${p.expected}; found ${p.found}`;
}

export function pathToString(path: ReadonlyArray<PropertyKey>): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

/** A refinement over the whole file (its input holds the issue path's first key): the found value is the field's. */
function refinesWholeFile(issue: { code: string; path: PropertyKey[]; input?: unknown }): boolean {
  const input = issue.input;
  return (
    issue.code === "custom" &&
    issue.path.length > 1 &&
    typeof input === "object" &&
    input !== null &&
    String(issue.path[0]) in input
  );
}

function describe(value: unknown): string {
  if (value === undefined) return "(missing)";
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function stripExpected(message: string): string {
  return message
    .replace(/^(Invalid input|Too small|Too big|Invalid option):\s*/i, "")
    .replace(/^expected\s+/i, "")
    .replace(/, received undefined$/, " (required)");
}

/** Parse YAML text and validate it with `schema`; throws SourceError listing every problem. */
export function parseYamlWith<S extends z.ZodType>(schema: S, text: string, file: string): z.output<S> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new SourceError(
      file,
      doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return {
          path: "",
          line: pos.line,
          column: pos.col,
          found: "invalid YAML",
          expected: e.message.split("\n")[0],
        };
      }),
    );
  }
  const data: unknown = doc.toJS() ?? {};
  const result = schema.safeParse(data, { reportInput: true });
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue): SourceProblem => {
    // Point at the deepest node that exists: a missing key points at its parent map.
    let path = [...issue.path];
    let node = doc.getIn(path, true);
    if (issue.code === "unrecognized_keys") {
      const key = issue.keys[0];
      const parent = doc.getIn(path, true);
      if (parent && typeof parent === "object" && "items" in parent) {
        const pair = (parent.items as Array<{ key: unknown }>).find(
          (it) => isNode(it.key) && (it.key as { value?: unknown }).value === key,
        );
        if (pair && isNode(pair.key)) node = pair.key;
      }
      path = [...path, key];
    }
    while (!isNode(node) && path.length > 0 && issue.code !== "unrecognized_keys") {
      path = path.slice(0, -1);
      node = doc.getIn(path, true);
    }
    const offset = isNode(node) && node.range ? node.range[0] : 0;
    const pos = lineCounter.linePos(offset);
    const found =
      issue.code === "unrecognized_keys"
        ? `unknown key ${describe(issue.keys[0])}`
        : refinesWholeFile(issue)
          ? describe(doc.getIn(issue.path)) // a refinement of the whole file names the field it points at
          : describe((issue as { input?: unknown }).input);
    const expected =
      issue.code === "unrecognized_keys"
        ? "only the documented keys (check the spelling)"
        : stripExpected(issue.message);
    return {
      path: pathToString(issue.code === "unrecognized_keys" ? path : issue.path),
      line: pos.line,
      column: pos.col,
      found,
      expected,
    };
  });
  throw new SourceError(file, problems);
}
