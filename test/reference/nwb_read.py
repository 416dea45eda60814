#!/usr/bin/python3
"""Read an NWB file written by ephysloop back with h5py alone (Debian's python3-h5py) and print what it holds as
JSON, for the tests to compare with the session store.

    /usr/bin/python3 test/reference/nwb_read.py FILE.nwb [STIMULI.json]

Every DynamicTable (DynamicTable, Units, TimeIntervals) is read generically from its colnames: a column with a
"<name>_index" dataset is ragged (cut by the index), text is decoded as UTF-8, object references are given as the
path of their target, DynamicTableRegion columns also name their table, NaN becomes null. Every Images group lists
its images in order_of_images with shape, dtype and the sha256 of the pixel bytes. With STIMULI.json
({stimulus id: image file}), each stimulus template is compared with the file decoded independently by PIL as the
display shows it (EXIF orientation applied, transparency composited onto gray 128, RGB).
"""
import hashlib
import json
import math
import sys

import h5py
import numpy as np

TABLE_TYPES = {"DynamicTable", "Units", "TimeIntervals"}


def text(v):
    return v.decode("utf-8") if isinstance(v, bytes) else v


def plain(v, f):
    """A value from h5py as JSON: numbers (NaN → null), strings, references as target paths."""
    if isinstance(v, h5py.Reference):
        return f[v].name if v else None
    if isinstance(v, np.ndarray):
        return [plain(x, f) for x in v]
    if isinstance(v, (bytes, str)):
        return text(v)
    if isinstance(v, (np.floating, float)):
        return None if math.isnan(v) else float(v)
    if isinstance(v, (np.integer, int)):
        return int(v)
    return v


def attrs(obj, f):
    return {k: plain(v, f) for k, v in obj.attrs.items()}


def read_table(g, f):
    out = {"attrs": attrs(g, f), "id": g["id"][:].tolist(), "columns": {}, "regions": {}}
    for name in [text(c) for c in g.attrs["colnames"]]:
        ds = g[name]
        values = [plain(x, f) for x in ds[:]]
        if name + "_index" in g:
            ends = g[name + "_index"][:].tolist()
            target = f[g[name + "_index"].attrs["target"]].name
            assert target == ds.name, f"{name}_index targets {target}"
            values = [values[s:e] for s, e in zip([0] + ends[:-1], ends)]
        out["columns"][name] = values
        if text(ds.attrs.get("neurodata_type", "")) == "DynamicTableRegion":
            out["regions"][name] = f[ds.attrs["table"]].name
    return out


def as_shown(path):
    from PIL import Image, ImageOps

    im = ImageOps.exif_transpose(Image.open(path))
    if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        gray = Image.new("RGBA", im.size, (128, 128, 128, 255))
        im = Image.alpha_composite(gray, im)
    return np.asarray(im.convert("RGB"))


def read_images(g, f, stimuli):
    out = []
    for ref in g["order_of_images"][:]:
        ds = f[ref]
        a = ds[()]
        item = {
            "name": ds.name.rsplit("/", 1)[1],
            "neurodata_type": text(ds.attrs["neurodata_type"]),
            "description": text(ds.attrs.get("description", "")),
            "shape": list(a.shape),
            "dtype": a.dtype.str,
            "sha256": hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest(),
        }
        sid = item["name"].replace(":", "/")
        if stimuli is not None and sid in stimuli:
            ref_pixels = as_shown(stimuli[sid])
            item["equals_file"] = bool(ref_pixels.shape == a.shape and np.array_equal(ref_pixels, a))
        out.append(item)
    return out


def main():
    path = sys.argv[1]
    stimuli = json.load(open(sys.argv[2])) if len(sys.argv) > 2 else None
    f = h5py.File(path, "r")
    out = {"root": attrs(f, f), "datasets": {}, "general": {}, "tables": {}, "images": {}}
    for name in ("identifier", "session_description", "session_start_time", "timestamps_reference_time",
                 "file_create_date"):
        if name in f:
            out["datasets"][name] = plain(f[name][()], f)
    for name, ds in (f["general"].items() if "general" in f else []):
        if isinstance(ds, h5py.Dataset):
            out["general"][name] = {"value": plain(ds[()], f), "attrs": attrs(ds, f)}
    if "general/subject" in f:
        out["general"]["subject"] = {k: plain(v[()], f) for k, v in f["general/subject"].items()}

    def visit(name, obj):
        if isinstance(obj, h5py.Group):
            t = text(obj.attrs.get("neurodata_type", ""))
            if t in TABLE_TYPES:
                out["tables"][obj.name] = read_table(obj, f)
            elif t == "Images":
                out["images"][obj.name] = read_images(obj, f, stimuli if obj.name.startswith("/stimulus") else None)
            elif t == "IndexSeries":
                out["index_series"] = {
                    "path": obj.name,
                    "data": obj["data"][:].tolist(),
                    "timestamps": obj["timestamps"][:].tolist(),
                    "indexed_images": obj.get("indexed_images", getlink=True).path,
                }

    f.visititems(visit)
    if ".specloc" in f.attrs:
        spec = f[f.attrs[".specloc"]]
        out["specifications"] = {ns: list(spec[ns].keys()) for ns in spec}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
