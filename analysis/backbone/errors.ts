// Errors of the backbone module, each with a stable public `code`.

export type BackboneErrorCode = "EPHYS_BAD_WEIGHTS" | "EPHYS_BAD_BACKBONE" | "EPHYS_BAD_IMAGE";

export class BackboneError extends Error {
  readonly code: BackboneErrorCode;
  constructor(code: BackboneErrorCode, message: string) {
    super(message);
    this.name = "BackboneError";
    this.code = code;
  }
}
