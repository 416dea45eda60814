export type { ResolvedPaths } from "./load.ts";
export { ConfigError, ensureToken, loadConfig, resolvePaths } from "./load.ts";
export { type Config, configSchema } from "./schema.ts";
