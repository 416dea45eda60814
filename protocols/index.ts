export { type LoadedProtocol, loadProtocol, parseProtocol, resolveManifest } from "./load.ts";
export * from "./schema.ts";
export { formatProblem, parseYamlWith, SourceError, type SourceProblem } from "./yaml-source.ts";
