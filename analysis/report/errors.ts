// Errors of the report builder, with stable codes.

export type ReportErrorCode = "EPHYS_BAD_REPORT_DATA" | "EPHYS_REPORT_RENDER";

export class ReportError extends Error {
  constructor(
    readonly code: ReportErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "ReportError";
  }
}
