// Errors of the backbone module, each with a stable public `code`.
import { EphysError } from "../errors.ts";

export type BackboneErrorCode =
  | "EPHYS_BAD_WEIGHTS"
  | "EPHYS_BAD_BACKBONE"
  | "EPHYS_BAD_IMAGE"
  /** A cotangent (or readout weights) whose shape does not fit the tap's activation. */
  | "EPHYS_BAD_COTANGENT"
  /** onnxruntime-node cannot be used as asked (not loadable, or no synchronous native session). */
  | "EPHYS_ORT_BINDING"
  /** compute.device names a GPU that cannot run here (its libraries, driver or adapter missing). */
  | "EPHYS_DEVICE_UNAVAILABLE";

export class BackboneError extends EphysError<BackboneErrorCode> {}
