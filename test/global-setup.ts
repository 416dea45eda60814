// Before any suite: the system packages the suites need are there (test/system-deps.sh --check), or every run
// stops here with the one command that installs them — a suite never skips for want of one.
import { spawnSync } from "node:child_process";

export default function setup(): void {
  const r = spawnSync("bash", ["test/system-deps.sh", "--check"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`missing system packages for the tests:\n${r.stderr}`);
}
