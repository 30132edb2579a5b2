"""Names of physical versions and environment schemas."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from dataplan.config import ProjectConfig
from dataplan.errors import InputError, ProjectError

PROD = "prod"
_ENV_NAME = re.compile(r"[a-z][a-z0-9_]{0,40}")


def check_environment_name(name: str) -> str:
    if not _ENV_NAME.fullmatch(name):  # not match(): "$" also matches before a trailing newline
        raise InputError(
            f"invalid environment name {name!r}",
            hint="use lowercase letters, digits and _, starting with a letter (e.g. dev, plan_42)",
        )
    return name


def environment_schema(schema: str, environment: str) -> str:
    """Where an environment's views live: ``staging`` for prod, ``staging__dev`` otherwise."""
    return schema if environment == PROD else f"{schema}__{environment}"


def version_table_name(layer: str, model: str, fingerprint: str, max_length: int) -> str:
    """``<layer>__<model>__<fp12>``, shortened with a hash when the engine's limit demands.

    The limit is in bytes (Postgres cuts identifiers at 63 bytes, not characters), and the fingerprint
    always survives: two versions of one model must never share a name.
    """
    name = f"{layer}__{model}__{fingerprint[:12]}"
    if len(name.encode()) <= max_length:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    keep = max_length - len(fingerprint[:12]) - len(digest) - 4
    prefix = (layer + "__" + model).encode()[:keep].decode(errors="ignore")  # never half a character
    return f"{prefix}_{digest}__{fingerprint[:12]}"


def check_identifier(name: str, max_length: int, what: str, *, path: Path | None = None, hint: str) -> None:
    """Refuse a view, schema or column name the engine would silently cut to ``max_length`` bytes.

    Cut names collide: two models (or two environments) cut to one name read each other's data.
    """
    size = len(name.encode())
    if size > max_length:
        raise ProjectError(
            f"{what} {name!r} is {size} bytes; the engine keeps only the first {max_length} of a name",
            path=path,
            hint=hint,
        )


def view_schema(config: ProjectConfig, layer: str, environment: str) -> str:
    """The schema of ``layer``'s views in ``environment``."""
    return environment_schema(config.schema_for(layer), environment)


def check_environment_schemas(config: ProjectConfig, layers: set[str], environment: str, max_length: int) -> None:
    """Every schema ``environment`` puts views in must fit the engine's name limit."""
    for layer in sorted(layers):
        schema = view_schema(config, layer, environment)
        check_identifier(
            schema,
            max_length,
            f"environment {environment}'s schema for layer {layer}",
            hint="use a shorter environment name, or map the layer to a shorter schema (layers: in dataplan.yml)",
        )
