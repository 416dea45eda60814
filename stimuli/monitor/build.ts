// Bundles the monitor dashboard (page.ts + index.html + uPlot's stylesheet) into stimuli/monitor/dist/ with esbuild
// (stimuli/page-bundle.ts). dist/ is gitignored; startDaemon builds it at start. Run by hand: npx tsx stimuli/monitor/build.ts
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { bundlePage } from "../page-bundle.ts";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** Default output directory: stimuli/monitor/dist. */
export const monitorDistDir = join(here, "dist");

/** Builds the dashboard into `outDir` (default stimuli/monitor/dist), uPlot's CSS inlined; returns the directory. */
export function buildMonitorPage(outDir: string = monitorDistDir): Promise<string> {
  return bundlePage({
    srcDir: here,
    outDir,
    styles: {
      '<link rel="stylesheet" href="./uPlot.min.css" />': require.resolve("uplot/dist/uPlot.min.css"),
    },
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const t0 = performance.now();
  const dir = await buildMonitorPage();
  console.log(`monitor page built in ${dir} (${Math.round(performance.now() - t0)} ms)`);
}
