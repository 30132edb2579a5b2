"""dataplan: executable, verifiable change plans for data warehouses."""

from __future__ import annotations

from dataplan.build.builder import BuildResult, RunResult
from dataplan.errors import (
    CheckFailed,
    ConfigError,
    ContractError,
    DataplanError,
    EngineError,
    InputError,
    ProjectError,
    SelectionError,
    StateError,
)
from dataplan.project import Project
from dataplan.verify.testing import TestRun
from dataplan.warehouse import EnvironmentStatus, Warehouse

__version__ = "0.1.0"

__all__ = [
    "BuildResult",
    "CheckFailed",
    "ConfigError",
    "ContractError",
    "DataplanError",
    "EngineError",
    "EnvironmentStatus",
    "InputError",
    "Project",
    "ProjectError",
    "RunResult",
    "SelectionError",
    "StateError",
    "TestRun",
    "Warehouse",
    "__version__",
]
