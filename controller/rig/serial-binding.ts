// serialport's binding interface types, taken from @serialport/stream's constructor (the interface package's own
// typings do not resolve under its package.json "exports").
import type { SerialPortStream } from "@serialport/stream";

export type BindingInterface = ConstructorParameters<typeof SerialPortStream>[0]["binding"];
export type BindingPortInterface = Awaited<ReturnType<BindingInterface["open"]>>;
export type OpenOptions = Parameters<BindingInterface["open"]>[0];
export type PortInfo = Awaited<ReturnType<BindingInterface["list"]>>[number];
export type PortStatus = Awaited<ReturnType<BindingPortInterface["get"]>>;
