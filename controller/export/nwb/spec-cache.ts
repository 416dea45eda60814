// The specification cached in the file, as pynwb caches it: /specifications/<namespace>/<version>/ holds one scalar
// UTF-8 string dataset per schema source (its YAML as JSON, named after the file without ".yaml") and `namespace`
// ({"namespaces": [the namespace]}), and the root attribute `.specloc` is an object reference to /specifications.
// Readers (pynwb, hdmf) load the types from there, so the file opens without the schema installed.
//
// Sources: NWB core from the NWB schema folder (core/nwb.namespace.yaml and its YAML files; default
// ../shared/nwb-schema beside the repository, config export.nwbSchemaDir), and hdmf-common, which core includes,
// from <schema folder>/hdmf-common-schema/common or else the copy inside Debian's python3-hdmf.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { EphysError } from "../../../analysis/errors.ts";
import { type File, type Group, refAttr, textDataset } from "./h5.ts";

/** The NWB version this exporter writes (NWBFile's nwb_version). */
export const NWB_VERSION = "2.6.0";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
/** Where the NWB schema is looked for when the config names none: ../shared/nwb-schema beside the repository. */
export const DEFAULT_NWB_SCHEMA_DIR = resolve(REPO_ROOT, "..", "shared", "nwb-schema");
/** hdmf-common as Debian's python3-hdmf ships it. */
export const DEBIAN_HDMF_COMMON_DIR = "/usr/lib/python3/dist-packages/hdmf/common/hdmf-common-schema/common";

export interface SpecSources {
  /** Folder with nwb.namespace.yaml (core). */
  core: string | null;
  /** Folder with namespace.yaml (hdmf-common). */
  hdmfCommon: string | null;
  /** Why a source is missing, for the file's notes and the command's warnings. */
  problems: string[];
}

/** Find the schema sources from the NWB schema folder (null: the default one). Missing ones are explained. */
export function locateSpecSources(nwbSchemaDir: string | null | undefined): SpecSources {
  const dir = resolve(nwbSchemaDir ?? DEFAULT_NWB_SCHEMA_DIR);
  const problems: string[] = [];
  const core = join(dir, "core");
  const hasCore = existsSync(join(core, "nwb.namespace.yaml"));
  if (!hasCore)
    problems.push(
      `the NWB schema was not found (${join(core, "nwb.namespace.yaml")}); set export.nwbSchemaDir or --nwb-schema`,
    );
  const hdmfCommon = [join(dir, "hdmf-common-schema", "common"), DEBIAN_HDMF_COMMON_DIR].find((d) =>
    existsSync(join(d, "namespace.yaml")),
  );
  if (!hdmfCommon)
    problems.push(
      `hdmf-common's schema was not found in ${join(dir, "hdmf-common-schema", "common")} or ${DEBIAN_HDMF_COMMON_DIR}`,
    );
  return { core: hasCore ? core : null, hdmfCommon: hdmfCommon ?? null, problems };
}

interface NamespaceDoc {
  name: string;
  version: string;
  schema: Array<{ source?: string; namespace?: string; [k: string]: unknown }>;
  [k: string]: unknown;
}

export class SpecCacheError extends EphysError<"EPHYS_NWB_SCHEMA"> {
  constructor(message: string) {
    super("EPHYS_NWB_SCHEMA", message);
  }
}

function readNamespace(dir: string, file: string, name: string): NamespaceDoc {
  const path = join(dir, file);
  const doc = parse(readFileSync(path, "utf8")) as { namespaces?: NamespaceDoc[] };
  const ns = doc?.namespaces?.find((n) => n.name === name);
  if (!ns || typeof ns.version !== "string" || !Array.isArray(ns.schema))
    throw new SpecCacheError(
      `${path}: namespaces: expected a namespace named ${name} with a version and a schema`,
    );
  return ns;
}

/** Each YAML source of a namespace, parsed, keyed by the dataset name (the file name without ".yaml"). */
function namespaceSources(
  dir: string,
  ns: NamespaceDoc,
): { namespace: string; sources: Map<string, unknown> } {
  const sources = new Map<string, unknown>();
  const schema = ns.schema.map((s) => {
    if (typeof s.source !== "string") return s;
    const name = s.source.replace(/\.ya?ml$/, "");
    sources.set(name, parse(readFileSync(join(dir, s.source), "utf8")));
    return { ...s, source: name };
  });
  return { namespace: JSON.stringify({ namespaces: [{ ...ns, schema }] }), sources };
}

/** The nwb_version value NWBFile declares in core's nwb.file source (to refuse caching another version). */
function declaredVersion(fileSpec: unknown): string | null {
  const doc = fileSpec as {
    groups?: Array<{ neurodata_type_def?: string; attributes?: Array<{ name: string; value?: unknown }> }>;
  } | null;
  const file = doc?.groups?.find((g) => g.neurodata_type_def === "NWBFile");
  const v = file?.attributes?.find((a) => a.name === "nwb_version")?.value;
  return typeof v === "string" ? v : null;
}

/**
 * Write /specifications and `.specloc`. Returns what was cached ({name: version}) and why anything was not.
 * Nothing is written when core is missing or declares another NWB version than the file's.
 */
export function cacheSpecifications(
  file: File,
  sources: SpecSources,
): { cached: Record<string, string>; problems: string[] } {
  const problems = [...sources.problems];
  const cached: Record<string, string> = {};
  if (!sources.core) return { cached, problems };
  // Everything is read and parsed before anything is written: a broken schema folder leaves no half cache.
  const todo: Array<{ name: string; version: string; parsed: ReturnType<typeof namespaceSources> }> = [];
  try {
    const coreNs = readNamespace(sources.core, "nwb.namespace.yaml", "core");
    const core = namespaceSources(sources.core, coreNs);
    const version = declaredVersion(core.sources.get("nwb.file"));
    if (version !== NWB_VERSION) {
      problems.push(
        `${sources.core}: NWBFile declares nwb_version ${JSON.stringify(version)}; this exporter writes ${NWB_VERSION}, so that schema was not cached`,
      );
      return { cached, problems };
    }
    if (sources.hdmfCommon) {
      const ns = readNamespace(sources.hdmfCommon, "namespace.yaml", "hdmf-common");
      todo.push({
        name: "hdmf-common",
        version: ns.version,
        parsed: namespaceSources(sources.hdmfCommon, ns),
      });
    }
    todo.push({ name: "core", version: coreNs.version, parsed: core });
  } catch (e) {
    problems.push(`the schema could not be read (${(e as Error).message})`);
    return { cached, problems };
  }
  const specs: Group = file.create_group("specifications");
  for (const { name, version: v, parsed } of todo) {
    const group = specs.create_group(name).create_group(v);
    textDataset(group, "namespace", parsed.namespace);
    for (const [source, doc] of parsed.sources) textDataset(group, source, JSON.stringify(doc));
    cached[name] = v;
  }
  refAttr(file, ".specloc", specs);
  return { cached, problems };
}
