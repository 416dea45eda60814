// Bundles the display page (page.ts + index.html) into stimuli/display/dist/ with esbuild (stimuli/page-bundle.ts).
// dist/ is gitignored; the daemon builds it at start. Run by hand: npx tsx stimuli/display/build.ts
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { bundlePage } from "../page-bundle.ts";

const here = dirname(fileURLToPath(import.meta.url));

/** Default output directory: stimuli/display/dist. */
export const displayDistDir = join(here, "dist");

/** Builds the page into `outDir` (default stimuli/display/dist) and returns the directory. */
export function buildDisplayPage(outDir: string = displayDistDir): Promise<string> {
  return bundlePage({ srcDir: here, outDir });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const t0 = performance.now();
  const dir = await buildDisplayPage();
  console.log(`display page built in ${dir} (${Math.round(performance.now() - t0)} ms)`);
}
