// Bundles the monitor dashboard (page.ts + index.html + uPlot's stylesheet) into stimuli/monitor/dist/ with esbuild.
// dist/ is gitignored; startDaemon builds it at start. Run by hand: npx tsx stimuli/monitor/build.ts
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** Default output directory: stimuli/monitor/dist. */
export const monitorDistDir = join(here, "dist");

const scriptTag = '<script type="module" src="./page.js"></script>';
const styleTag = '<link rel="stylesheet" href="./uPlot.min.css" />';

/**
 * Builds the dashboard into `outDir` (default stimuli/monitor/dist) and returns the directory: index.html with the
 * bundle and uPlot's CSS inlined (one self-contained file, served at /monitor and /monitor/ alike) and page.js
 * beside it for debugging.
 */
export async function buildMonitorPage(outDir: string = monitorDistDir): Promise<string> {
  await mkdir(outDir, { recursive: true });
  const result = await build({
    entryPoints: [join(here, "page.ts")],
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2020",
    logLevel: "silent",
  });
  const js = result.outputFiles[0].text;
  const css = await readFile(require.resolve("uplot/dist/uPlot.min.css"), "utf8");
  const html = await readFile(join(here, "index.html"), "utf8");
  for (const tag of [scriptTag, styleTag])
    if (!html.includes(tag)) throw new Error(`stimuli/monitor/index.html: expected the tag ${tag}`);
  const inlined = html
    .replace(styleTag, () => `<style>\n${css}</style>`)
    .replace(scriptTag, () => `<script type="module">\n${js.replaceAll("</script", "<\\/script")}</script>`);
  await writeFile(join(outDir, "page.js"), js);
  await writeFile(join(outDir, "index.html"), inlined);
  return outDir;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const t0 = performance.now();
  const dir = await buildMonitorPage();
  console.log(`monitor page built in ${dir} (${Math.round(performance.now() - t0)} ms)`);
}
