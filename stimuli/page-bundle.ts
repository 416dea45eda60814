// One self-contained HTML page from a folder's page.ts + index.html (esbuild): the bundle and any stylesheets are
// inlined into index.html, so the page works at /<name> and /<name>/ alike; page.js is written beside it for debugging.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { build } from "esbuild";

const scriptTag = '<script type="module" src="./page.js"></script>';

export interface PageBundle {
  /** Folder holding page.ts and index.html. */
  srcDir: string;
  outDir: string;
  /** Stylesheets to inline: the exact <link> tag in index.html → the CSS file that replaces it. */
  styles?: Record<string, string>;
}

export async function bundlePage(o: PageBundle): Promise<string> {
  await mkdir(o.outDir, { recursive: true });
  const result = await build({
    entryPoints: [join(o.srcDir, "page.ts")],
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2020",
    logLevel: "silent",
  });
  const js = result.outputFiles[0].text;
  const htmlPath = join(o.srcDir, "index.html");
  let html = await readFile(htmlPath, "utf8");
  for (const tag of [scriptTag, ...Object.keys(o.styles ?? {})])
    if (!html.includes(tag)) throw new Error(`${htmlPath}: expected the tag ${tag}`);
  for (const [tag, cssPath] of Object.entries(o.styles ?? {})) {
    const css = await readFile(cssPath, "utf8");
    html = html.replace(tag, () => `<style>\n${css}</style>`);
  }
  html = html.replace(
    scriptTag,
    () => `<script type="module">\n${js.replaceAll("</script", "<\\/script")}</script>`,
  );
  await writeFile(join(o.outDir, "page.js"), js);
  await writeFile(join(o.outDir, "index.html"), html);
  return o.outDir;
}
