// `ephysloop demo` (npm start) as a newcomer runs it: a real child process whose PATH holds node alone — no socat,
// no chromium, nothing from apt — runs a whole simulated day to its report; and each part of the virtual rig,
// broken in turn, ends the day with exit code 1, one error naming the part and the fix, the aborted session's
// report, and no lingering (the process exits soon after the failure). While the whole day runs, Chromium takes
// the pictures README shows (the dashboard mid-phase, the report): test/artifacts/ always, docs/images/ with
// UPDATE_DOCS_PICTURES=1 (which also runs the stock protocols/demo.yaml, as `npm start` does).
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, describe, expect, it } from "vitest";
import { simulatedProtocol } from "./simulated-day.ts";

const root = mkdtempSync(join(tmpdir(), "ephys-demo-"));
// A PATH with node and nothing else.
const bin = join(root, "bin");
mkdirSync(bin);
symlinkSync(process.execPath, join(bin, "node"));
// A short day: 2 repetitions, 4 channels, neurons without the backbone, a short fit and loose saliency.
const protocolPath = simulatedProtocol(root, {
  repetitions: 2,
  channels: 4,
  simulation: ["neurons: thumbnail"],
  replace: [
    ["phase2:\n  repetitions: 6", "phase2:\n  repetitions: 2"],
    ["epochs: 300", "epochs: 60"],
    ["epsilon: 0.05", "epsilon: 0.2"],
  ],
});
// One data directory for every run: the backbone features are computed once.
const dataDir = join(root, "data");
const docsPictures = process.env.UPDATE_DOCS_PICTURES === "1";
const artifacts = new URL("../artifacts/", import.meta.url).pathname;
let browser: Browser | undefined;
afterAll(async () => browser?.close());

/** A picture into test/artifacts/ and, with UPDATE_DOCS_PICTURES=1, docs/images/. */
function keep(file: string, name: string): void {
  mkdirSync(artifacts, { recursive: true });
  copyFileSync(file, join(artifacts, name));
  if (docsPictures) {
    mkdirSync("docs/images", { recursive: true });
    copyFileSync(file, join("docs/images", name));
  }
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  exitedAt: number;
  /** When the first word of a failed part reached stderr (null if none did). */
  failureSeenAt: number | null;
}

function demo(args: string[], onStdout?: (text: string) => void): Promise<Run> {
  return new Promise((resolve) => {
    const protocol = docsPictures && args.length === 0 ? "protocols/demo.yaml" : protocolPath;
    const child = spawn(process.execPath, ["bin/ephysloop.mjs", "demo", "--protocol", protocol, ...args], {
      env: { PATH: bin, HOME: root, EPHYSLOOP_DATA_DIR: dataDir, EPHYSLOOP_LOG_LEVEL: "info" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let failureSeenAt: number | null = null;
    child.stdout.on("data", (d) => {
      stdout += d;
      onStdout?.(stdout);
    });
    child.stderr.on("data", (d) => {
      stderr += d;
      if (failureSeenAt === null && /the virtual rig's .* (failed|could not start)/.test(stderr))
        failureSeenAt = Date.now();
    });
    child.on("exit", (code) => resolve({ code, stdout, stderr, exitedAt: Date.now(), failureSeenAt }));
  });
}

describe("npm start with nothing but node", () => {
  it("runs the simulated day to its report with socat absent from PATH; the dashboard shows it live", async () => {
    let dashboard: Promise<void> | null = null;
    const run = await demo([], (out) => {
      const url = out.match(/dashboard: (\S+)/)?.[1];
      if (url && !dashboard) dashboard = pictureOfDashboard(url);
    });
    expect(run.stderr).not.toMatch(/socat|ENOENT/);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/session \S+: done/);
    const report = run.stdout.match(/report: (\S+)/)?.[1];
    expect(report && existsSync(report)).toBe(true);
    expect(dashboard, "the demo printed the dashboard's address").not.toBeNull();
    await dashboard;
    // The report, as a lab opens it.
    const page = await browser!.newPage({ viewport: { width: 1280, height: 1000 } });
    await page.goto(`file://${report}`);
    expect(await page.locator("h1").first().textContent()).toBeTruthy();
    const shot = join(root, "report.png");
    await page.screenshot({ path: shot });
    keep(shot, "report.png");
    await page.close();
  }, 600_000);

  for (const [fault, part] of [
    ["box", "rig box"],
    ["display", "display"],
    ["acquisition", "acquisition bridge"],
    ["rig-process", "virtual rig process"],
  ] as const)
    it(`--fault ${fault}: exits 1 soon after, naming the ${part}, the cause and the fix; the session gets its report`, async () => {
      const run = await demo(["--fault", fault]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`error: the virtual rig's ${part} failed: `);
      expect(run.stderr).toMatch(/\nfix: \S/);
      expect(run.stdout).toMatch(/session \S+: aborted/);
      const report = run.stdout.match(/report: (\S+)/)?.[1];
      expect(report && existsSync(report)).toBe(true);
      // The day ended, and the process with it, within 10 s of the failure.
      expect(run.failureSeenAt).not.toBeNull();
      expect(run.exitedAt - run.failureSeenAt!).toBeLessThan(10_000);
    }, 300_000);
});

/** The dashboard once phase 1 is under way: a picture, after checking it shows the day's channels and trials. */
async function pictureOfDashboard(url: string): Promise<void> {
  browser ??= await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(url);
  const shown = async () => Number((await page.textContent("#shown"))?.trim() ?? 0);
  for (let t0 = Date.now(); (await shown()) < 20; ) {
    if (Date.now() - t0 > 300_000) throw new Error("the dashboard never showed 20 trials");
    await page.waitForTimeout(200);
  }
  expect(await page.locator("#grid .cell").count()).toBe(docsPictures ? 8 : 4);
  await page.click("#grid .cell >> nth=0");
  await page.waitForSelector('#panel-stats dd[data-key="trials"]');
  const shot = join(root, "dashboard.png");
  await page.screenshot({ path: shot });
  keep(shot, "dashboard.png");
  await page.close();
}
