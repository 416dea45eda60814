// Errors of the report builder, with stable codes.
import { EphysError } from "../errors.ts";

export type ReportErrorCode = "EPHYS_BAD_REPORT_DATA" | "EPHYS_REPORT_RENDER";

export class ReportError extends EphysError<ReportErrorCode> {}
