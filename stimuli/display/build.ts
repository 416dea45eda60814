// Bundles the display page (page.ts + index.html) into stimuli/display/dist/ with esbuild.
// dist/ is gitignored; the daemon calls buildDisplayPage() at start when dist/index.html is missing.
// Run by hand: npx tsx stimuli/display/build.ts
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));

/** Default output directory: stimuli/display/dist. */
export const displayDistDir = join(here, "dist");

const scriptTag = '<script type="module" src="./page.js"></script>';

/**
 * Builds the page into `outDir` (default stimuli/display/dist) and returns the directory: index.html with the
 * bundle inlined (self-contained, so it works at /display and /display/ alike) and page.js beside it for
 * debugging. Takes well under a second.
 */
export async function buildDisplayPage(outDir: string = displayDistDir): Promise<string> {
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
  const html = await readFile(join(here, "index.html"), "utf8");
  if (!html.includes(scriptTag)) throw new Error(`stimuli/display/index.html: expected the tag ${scriptTag}`);
  const inlined = html.replace(
    scriptTag,
    () => `<script type="module">\n${js.replaceAll("</script", "<\\/script")}</script>`,
  );
  await writeFile(join(outDir, "page.js"), js);
  await writeFile(join(outDir, "index.html"), inlined);
  return outDir;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const t0 = performance.now();
  const dir = await buildDisplayPage();
  console.log(`display page built in ${dir} (${Math.round(performance.now() - t0)} ms)`);
}
