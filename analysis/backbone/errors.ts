// Errors of the backbone module, each with a stable public `code`.

export type BackboneErrorCode =
  | "EPHYS_BAD_WEIGHTS"
  | "EPHYS_BAD_BACKBONE"
  | "EPHYS_BAD_IMAGE"
  /** A cotangent (or readout weights) whose shape does not fit the tap's activation. */
  | "EPHYS_BAD_COTANGENT"
  /** onnxruntime-node cannot be used as asked (not loadable, or no synchronous native session). */
  | "EPHYS_ORT_BINDING";

export class BackboneError extends Error {
  readonly code: BackboneErrorCode;
  constructor(code: BackboneErrorCode, message: string) {
    super(message);
    this.name = "BackboneError";
    this.code = code;
  }
}
