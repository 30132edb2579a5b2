"""Names of physical versions and environment schemas."""

from __future__ import annotations

import hashlib
import re

from dataplan.errors import InputError

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
    """``<layer>__<model>__<fp12>``, shortened with a hash when the engine's limit demands."""
    name = f"{layer}__{model}__{fingerprint[:12]}"
    if len(name) <= max_length:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    keep = max_length - len(fingerprint[:12]) - len(digest) - 4
    return f"{(layer + '__' + model)[:keep]}_{digest}__{fingerprint[:12]}"
