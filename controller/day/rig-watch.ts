// The rig box's link, watched for the whole day: when it is lost (USB unplugged, the board reset) the day pauses
// with the reason — no presentation without fixation control; the operator resumes once it is back.
import { fromCallback } from "xstate";
import type { BoxHandle } from "../rig/box-handle.ts";
import type { DayEvent, StepInput } from "./machine.ts";

export function watchRigActor(box: Pick<BoxHandle, "onStatus"> | null) {
  return fromCallback<DayEvent, StepInput>(({ sendBack }) => {
    if (!box) return;
    return box.onStatus((status, reason) => {
      if (status === "lost") sendBack({ type: "PAUSE", reason });
    });
  });
}
