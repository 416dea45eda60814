// Rig box settings (controller/rig/box-settings.ts): every bad field is named with what was expected, before
// anything reaches the box; good settings become the commands the firmware takes, in order.
import { describe, expect, it } from "vitest";
import { type BoxSettings, settingsCommands, settingsProblem } from "../../controller/rig/box-settings.ts";

describe("rig box settings", () => {
  it("accepts the firmware's ranges and orders the commands", () => {
    const s: BoxSettings = {
      photodiode: { onMv: 2000, offMv: 1000 },
      streamMs: 20,
      window: { xDeg: 0, yDeg: 0, radiusDeg: 2, samples: 3 },
      calibration: [400, -400, 1000, 0, 1, -1000],
    };
    expect(settingsProblem(s)).toBeNull();
    expect(settingsCommands(s).map((c) => c.kind)).toEqual(["cal", "win", "stream", "pdthr"]);
    expect(settingsProblem({ streamMs: 0 })).toBeNull();
  });

  it.each([
    [{ calibration: [1, 2, 3] }, "calibration: expected 6 numbers"],
    [{ calibration: [1, 0, 0, 0, 401, 0] }, "calibration.by: expected a gain within ±400 deg/V, found 401"],
    [
      { calibration: [1, 0, Number.NaN, 0, 1, 0] },
      "calibration.cx: expected a offset within ±1000 deg, found NaN",
    ],
    [
      { window: { xDeg: 0, yDeg: 0, radiusDeg: 0 } },
      "window.radiusDeg: expected a radius in (0, 300] degrees",
    ],
    [{ window: { xDeg: 2000, yDeg: 0, radiusDeg: 1 } }, "window.xDeg: expected degrees within ±1000"],
    [
      { window: { xDeg: 0, yDeg: 0, radiusDeg: 1, samples: 0 } },
      "window.samples: expected an integer 1..255",
    ],
    [{ streamMs: 3 }, "streamMs: expected 0 (off) or an integer 5..1000 ms, found 3"],
    [{ photodiode: { onMv: 6000, offMv: 1 } }, "photodiode.onMv: expected an integer 0..5000 mV"],
    [
      { photodiode: { onMv: 1000, offMv: 1000 } },
      "photodiode.offMv: expected an integer 0..999 mV (below onMv)",
    ],
  ] as Array<[BoxSettings, string]>)("refuses %j", (s, message) => {
    expect(settingsProblem(s)).toContain(message);
  });
});
