// The hdmf/NWB object model on HDF5: every typed object carries the attributes `neurodata_type`, `namespace` and
// `object_id` (a UUID4), as pynwb writes them; DynamicTable and its columns (VectorData, VectorIndex,
// ElementIdentifiers, DynamicTableRegion) from hdmf-common, with `colnames` in column order. A ragged column is a
// VectorData of all cells concatenated plus a VectorIndex of cumulative ends ("<column>_index", `target` an object
// reference to the VectorData).
import { randomUUID } from "node:crypto";
import {
  type Dataset,
  type Group,
  H5,
  type NumericArray,
  type NumericType,
  numericDataset,
  refAttr,
  refDataset,
  textAttr,
  textDataset,
} from "./h5.ts";

export type Namespace = "core" | "hdmf-common";

/** Mark an HDF5 object as an instance of `type` from `namespace`. */
export function markType<T extends Group | Dataset>(obj: T, type: string, namespace: Namespace): T {
  textAttr(obj, "namespace", namespace);
  textAttr(obj, "neurodata_type", type);
  textAttr(obj, "object_id", randomUUID());
  return obj;
}

export function typedGroup(parent: Group, name: string, type: string, namespace: Namespace): Group {
  return markType(parent.create_group(name), type, namespace);
}

/** The smallest unsigned type that holds `max` (VectorIndex: uint8 in the schema, any wider unsigned type ok). */
export function indexType(max: number): NumericType {
  if (max < 2 ** 32) return H5.u32;
  throw new RangeError(`index value ${max} does not fit uint32`);
}

/**
 * A DynamicTable (or a type derived from it: Units, TimeIntervals) being written: columns are added in order and
 * `colnames` lists them; `finish()` writes `id` and the attribute. Every column has `rows` rows.
 */
export class TableWriter {
  readonly group: Group;
  private readonly colnames: string[] = [];

  constructor(
    parent: Group,
    name: string,
    readonly rows: number,
    o: { type?: string; namespace?: Namespace; description: string },
  ) {
    this.group = typedGroup(parent, name, o.type ?? "DynamicTable", o.namespace ?? "hdmf-common");
    textAttr(this.group, "description", o.description);
  }

  /** A VectorData column of numbers; `width` > 1 makes it rows × width. */
  numbers(name: string, description: string, data: NumericArray, type: NumericType, width = 1): Dataset {
    this.checkRows(name, data.length / width);
    const ds = numericDataset(this.group, name, data, type, width > 1 ? [this.rows, width] : [this.rows]);
    return this.column(ds, name, description);
  }

  text(name: string, description: string, values: string[]): Dataset {
    this.checkRows(name, values.length);
    return this.column(textDataset(this.group, name, values), name, description);
  }

  /** A VectorData column of object references to `targets`. */
  refs(name: string, description: string, targets: Array<Group | Dataset>): Dataset {
    this.checkRows(name, targets.length);
    return this.column(refDataset(this.group, name, targets), name, description);
  }

  /** A DynamicTableRegion column: row indices into `table` (optionally ragged, with `ends`). */
  region(name: string, description: string, table: Group, rowsOf: Int32Array, ends?: Uint32Array): Dataset {
    if (!ends) this.checkRows(name, rowsOf.length);
    const ds = numericDataset(this.group, name, rowsOf, H5.i32);
    markType(ds, "DynamicTableRegion", "hdmf-common");
    textAttr(ds, "description", description);
    refAttr(ds, "table", table);
    this.colnames.push(name);
    if (ends) this.index(name, ds, ends);
    return ds;
  }

  /** A ragged numeric column from its cells concatenated (`values`) and the cumulative ends of the rows. */
  ragged(
    name: string,
    description: string,
    values: NumericArray,
    type: NumericType,
    ends: Uint32Array,
    width = 1,
  ): Dataset {
    const ds = numericDataset(
      this.group,
      name,
      values,
      type,
      width > 1 ? [values.length / width, width] : [values.length],
    );
    this.column(ds, name, description);
    this.index(name, ds, ends);
    return ds;
  }

  /** A ragged text column. */
  raggedText(name: string, description: string, values: string[], ends: Uint32Array): Dataset {
    const ds = textDataset(this.group, name, values);
    this.column(ds, name, description);
    this.index(name, ds, ends);
    return ds;
  }

  /** Adopt a dataset written elsewhere (streamed) as a VectorData column. */
  adopt(ds: Dataset, name: string, description: string): Dataset {
    return this.column(ds, name, description);
  }

  /** The VectorIndex "<name>_index" of a ragged column whose data `target` holds. */
  index(name: string, target: Dataset, ends: Uint32Array): Dataset {
    this.checkRows(`${name}_index`, ends.length);
    const max = ends.length ? ends[ends.length - 1] : 0;
    const ds = numericDataset(this.group, `${name}_index`, ends, indexType(max));
    markType(ds, "VectorIndex", "hdmf-common");
    textAttr(ds, "description", `Index for VectorData '${name}'`);
    refAttr(ds, "target", target);
    return ds;
  }

  /** `id` (the row identifiers; default 0..rows−1) and `colnames`. */
  finish(ids?: Int32Array): Group {
    const id = ids ?? Int32Array.from({ length: this.rows }, (_, i) => i);
    this.checkRows("id", id.length);
    markType(numericDataset(this.group, "id", id, H5.i32), "ElementIdentifiers", "hdmf-common");
    textAttr(this.group, "colnames", this.colnames);
    return this.group;
  }

  private column(ds: Dataset, name: string, description: string): Dataset {
    markType(ds, "VectorData", "hdmf-common");
    textAttr(ds, "description", description);
    this.colnames.push(name);
    return ds;
  }

  private checkRows(name: string, n: number): void {
    if (n !== this.rows)
      throw new RangeError(`table ${this.group.path}: column ${name} has ${n} rows, the table ${this.rows}`);
  }
}

/** Cumulative ends of rows of the given lengths (a VectorIndex's data). */
export function endsOf(lengths: ArrayLike<number>): Uint32Array {
  const ends = new Uint32Array(lengths.length);
  let at = 0;
  for (let i = 0; i < lengths.length; i++) {
    at += lengths[i];
    ends[i] = at;
  }
  return ends;
}

/** Names that are safe as HDF5 link names ("/" separates paths; "." alone is the group itself), kept unique. */
export function safeNames(names: readonly string[], replacement = ":"): string[] {
  const used = new Set<string>();
  return names.map((n) => {
    let base = n.replaceAll("/", replacement);
    if (base === "" || base === "." || base === "..") base = `_${base}`;
    let name = base;
    for (let k = 2; used.has(name); k++) name = `${base}~${k}`;
    used.add(name);
    return name;
  });
}
