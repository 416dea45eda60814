// `ephysloop report SESSION [--pdf]`: the session's self-contained HTML report from the store, written to
// <dataDir>/sessions/<id>/report.html (artifact "report"); with --pdf also printed to report.pdf beside it by
// headless Chromium (artifact "report-pdf").
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { type Config, resolvePaths } from "../../config/index.ts";
import { type ReportFiles, ReportStepError, writeSessionReport } from "../day/steps/report.ts";
import { SessionStore } from "../store/store.ts";

export const CHROMIUM_PATH = "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/**
 * Print an HTML file to PDF (A4, backgrounds on, collapsible blocks opened) in headless Chromium. Any request
 * other than the file itself and data: URIs is refused, so the PDF shows exactly what the page holds.
 */
export async function printPdf(
  htmlPath: string,
  pdfPath: string,
  executablePath = CHROMIUM_PATH,
): Promise<{ pages: number; bytes: number }> {
  const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    const url = pathToFileURL(htmlPath).href;
    await page.route("**/*", (route) => {
      const u = route.request().url();
      return u === url || u.startsWith("data:") ? route.continue() : route.abort();
    });
    await page.goto(url, { waitUntil: "load" });
    await page.evaluate(() => {
      document.querySelectorAll("details").forEach((d) => {
        d.open = true;
      });
    });
    const pdf = await page.pdf({
      path: pdfPath,
      format: "A4",
      printBackground: true,
      margin: { top: "14mm", bottom: "14mm", left: "12mm", right: "12mm" },
    });
    // Count page objects ("/Type /Page" not followed by "s") in the PDF.
    const pages = (pdf.toString("latin1").match(/\/Type\s*\/Page(?!s)/g) ?? []).length;
    return { pages, bytes: pdf.length };
  } finally {
    await browser.close();
  }
}

export interface ReportCommandResult extends ReportFiles {
  pdf?: { path: string; pages: number; bytes: number; artifactId: number };
}

/** Write the report of a stored session (and its PDF with `pdf`); prints the paths. */
export async function reportCommand(
  config: Config,
  sessionId: string,
  o: { pdf?: boolean; quiet?: boolean } = {},
): Promise<ReportCommandResult> {
  const store = new SessionStore(resolvePaths(config).dbPath);
  try {
    if (!store.getSession(sessionId)) {
      const known = store
        .listSessions()
        .slice(0, 5)
        .map((s) => s.id);
      throw new ReportStepError(
        "EPHYS_NO_SESSION",
        `session: no session ${JSON.stringify(sessionId)} in ${resolvePaths(config).dbPath}${known.length ? `; newest: ${known.join(", ")}` : ""}`,
      );
    }
    const files: ReportCommandResult = await writeSessionReport(store, sessionId, { config });
    if (!o.quiet) console.log(`report: ${files.path}`);
    if (o.pdf) {
      const pdfPath = files.path.replace(/\.html$/, ".pdf");
      const printed = await printPdf(files.path, pdfPath);
      const sha256 = createHash("sha256")
        .update(await readFile(pdfPath))
        .digest("hex");
      const artifactId = store.addArtifact(sessionId, {
        kind: "report-pdf",
        path: pdfPath,
        meta: { format: "pdf", ...printed, sha256, html: files.path },
      });
      files.pdf = { path: pdfPath, ...printed, artifactId };
      if (!o.quiet) console.log(`pdf: ${pdfPath} (${printed.pages} pages)`);
    }
    return files;
  } finally {
    store.close();
  }
}
