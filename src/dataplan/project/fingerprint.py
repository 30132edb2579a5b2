"""Fingerprints: content hashes that name physical versions.

A fingerprint covers what changes a model's data: its normalized SQL (so
formatting and comments do not count), the config that changes data, the
identity of the sources it reads and its parents' fingerprints. Descriptions,
tests and contracts do not change data and are left out.
"""

from __future__ import annotations

import hashlib
import json

from dataplan.project.graph import ModelGraph
from dataplan.project.nodes import Model, SourceTable

FINGERPRINT_SCHEMA = 1  # bump when the recipe changes, so old versions are not reused wrongly


def _data_config(model: Model) -> dict[str, object]:
    spec = model.spec
    config: dict[str, object] = {"materialized": model.materialized}
    if model.materialized == "incremental_by_time":
        config.update(time_column=spec.time_column, start=str(spec.start))
    return config


def fingerprint_model(model: Model, parents: dict[str, str], sources: dict[str, SourceTable]) -> str:
    """One model's fingerprint, given its parents' (``parent -> fingerprint``)."""
    h = hashlib.sha256()
    # The model's identity counts: two models with the same SQL are still two versions.
    h.update(f"dataplan-fp{FINGERPRINT_SCHEMA}\n{model.kind}\n{model.layer}.{model.name}\n".encode())
    if model.kind == "seed":
        h.update(model.path.read_bytes())
    else:
        h.update(model.normalized.encode())
    h.update(json.dumps(_data_config(model), sort_keys=True).encode())
    for parent in model.parents:
        h.update(f"\nparent {parent} {parents[parent]}".encode())
    for source in model.sources:
        h.update(f"\nsource {source} {sources[source].identity()}".encode())
    return h.hexdigest()


def fingerprint_models(graph: ModelGraph, sources: dict[str, SourceTable], dialect: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in graph.order:
        out[name] = fingerprint_model(graph.models[name], out, sources)
    return out
