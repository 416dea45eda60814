// The electrodes: one Device and one ElectrodeGroup per probe (as the acquisition bridge announced the channels),
// and /general/extracellular_ephys/electrodes with one row per channel in the store's order (index, then id):
// location (the region where known; the store keeps none yet, so "unknown"), group and group_name (the probe),
// and the channel's id and index on its probe.
import type { ChannelRecord } from "../../store/store.ts";
import { type Group, H5, textAttr } from "./h5.ts";
import { safeNames, TableWriter, typedGroup } from "./hdmf.ts";

export const UNKNOWN_LOCATION = "unknown";

/** Writes the probes' devices and groups and the electrodes table; returns the table (units refer to its rows). */
export function writeElectrodes(general: Group, devices: Group, channels: ChannelRecord[]): Group {
  const ecephys = general.create_group("extracellular_ephys");
  const probes = [...new Set(channels.map((c) => c.probe))];
  const names = safeNames(probes);
  const groups = new Map<string, Group>();
  for (const [i, probe] of probes.entries()) {
    const device = typedGroup(devices, names[i], "Device", "core");
    textAttr(device, "description", `probe "${probe}" as the acquisition bridge announced its channels`);
    const group = typedGroup(ecephys, names[i], "ElectrodeGroup", "core");
    textAttr(group, "description", `the channels of probe "${probe}"`);
    textAttr(group, "location", UNKNOWN_LOCATION);
    group.create_soft_link(device.path, "device");
    groups.set(probe, group);
  }
  const table = new TableWriter(ecephys, "electrodes", channels.length, {
    description: "One row per recorded channel (multi-unit site), in the session's channel order.",
  });
  table.text(
    "location",
    "Brain region of the channel where known; the session store records none yet.",
    channels.map(() => UNKNOWN_LOCATION),
  );
  table.refs(
    "group",
    "The ElectrodeGroup (probe) of the channel.",
    channels.map((c) => groups.get(c.probe)!),
  );
  table.text(
    "group_name",
    "Name of the ElectrodeGroup of the channel.",
    channels.map((c) => names[probes.indexOf(c.probe)]),
  );
  table.text(
    "channel_id",
    "The channel's id as the acquisition bridge announced it (the key used throughout the session).",
    channels.map((c) => c.id),
  );
  table.numbers(
    "channel_index",
    "The channel's index on its probe.",
    Int32Array.from(channels, (c) => c.index),
    H5.i32,
  );
  return table.finish();
}
