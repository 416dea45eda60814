#!/usr/bin/python3
"""Validate an NWB file against the NWB core schema with hdmf's own validator (Debian's python3-hdmf).

    /usr/bin/python3 test/reference/nwb_validate.py FILE.nwb SCHEMA_DIR [--cached]

SCHEMA_DIR is the NWB schema folder (../shared/nwb-schema: core/nwb.namespace.yaml); hdmf-common, which core
includes, is the one shipped inside python3-hdmf. With --cached the namespaces are instead loaded from the
file's own /specifications group (what pynwb does by default), which checks that the cached specification is
complete. Prints one JSON object: {"errors": [...], "namespaces": {name: version}}. Exit status 0 either way;
the caller decides.

NWB's YAML names types with neurodata_type_def/neurodata_type_inc where hdmf's spec classes read
data_type_def/data_type_inc, and NWB objects carry the attribute "neurodata_type" where hdmf's carry "data_type":
the small subclasses below map those keys, so one catalog holds hdmf-common and core with the same keys.
"""
import json
import os
import sys

import hdmf.common
from hdmf.backends.hdf5 import HDF5IO
from hdmf.build import BuildManager, TypeMap
from hdmf.spec import DatasetSpec, GroupSpec, NamespaceCatalog, SpecNamespace
from hdmf.validate import ValidatorMap

KEYS = (("neurodata_type_def", "data_type_def"), ("neurodata_type_inc", "data_type_inc"))


class NwbKeys:
    @classmethod
    def type_key(cls):
        return "neurodata_type"

    @classmethod
    def def_key(cls):
        return "neurodata_type_def"

    @classmethod
    def inc_key(cls):
        return "neurodata_type_inc"

    @classmethod
    def build_const_args(cls, spec_dict):
        d = dict(spec_dict)
        for nwb_key, hdmf_key in KEYS:
            if nwb_key in d:
                d[hdmf_key] = d.pop(nwb_key)
        return super().build_const_args(d)


class NwbDatasetSpec(NwbKeys, DatasetSpec):
    pass


class NwbGroupSpec(NwbKeys, GroupSpec):
    @classmethod
    def dataset_spec_cls(cls):
        return NwbDatasetSpec


class NwbNamespace(SpecNamespace):
    @classmethod
    def types_key(cls):
        return "neurodata_types"


def catalog_from_yaml(schema_dir):
    catalog = NamespaceCatalog(NwbGroupSpec, NwbDatasetSpec, NwbNamespace)
    common = os.path.join(os.path.dirname(hdmf.common.__file__), "hdmf-common-schema", "common", "namespace.yaml")
    catalog.load_namespaces(common)
    catalog.load_namespaces(os.path.join(schema_dir, "core", "nwb.namespace.yaml"))
    return catalog


def catalog_from_file(path):
    catalog = NamespaceCatalog(NwbGroupSpec, NwbDatasetSpec, NwbNamespace)
    HDF5IO.load_namespaces(catalog, path)
    return catalog


def main():
    path, schema_dir = sys.argv[1], sys.argv[2]
    cached = "--cached" in sys.argv[3:]
    catalog = catalog_from_file(path) if cached else catalog_from_yaml(schema_dir)
    errors = []
    with HDF5IO(path, mode="r", manager=BuildManager(TypeMap(catalog))) as io:
        builder = io.read_builder()
        validator = ValidatorMap(catalog.get_namespace("core"))
        errors = [str(e) for e in validator.validate(builder)]
    names = {n: catalog.get_namespace(n).version for n in catalog.namespaces}
    print(json.dumps({"errors": errors, "namespaces": names}))


if __name__ == "__main__":
    main()
