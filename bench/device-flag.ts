// The benches' --device flag (#24): where ONNX Runtime runs, default cpu (today's measurements), resolved once
// (analysis/backbone/ort-device.ts) and printed; an explicit device that cannot run, or a bad flag, ends the bench
// with the reason and exit code 1.
import { parseArgs } from "node:util";
import {
  COMPUTE_DEVICES,
  type ComputeDevice,
  type DeviceChoice,
  describeDevice,
  resolveDevice,
} from "../analysis/backbone/ort-device.ts";

export async function benchDevice(): Promise<DeviceChoice> {
  try {
    const { values } = parseArgs({ options: { device: { type: "string", default: "cpu" } } });
    const asked = values.device as ComputeDevice;
    if (!COMPUTE_DEVICES.includes(asked))
      throw new Error(
        `--device: expected one of ${COMPUTE_DEVICES.join(", ")}; found ${JSON.stringify(asked)}`,
      );
    const choice = await resolveDevice(asked);
    console.log(`device: ${describeDevice(choice)}`);
    return choice;
  } catch (e) {
    console.error((e as Error).message);
    process.exit(1);
  }
}
