"""The project on disk: loading, the model graph, fingerprints and lineage."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from sqlglot import exp

from dataplan.config import ProjectConfig
from dataplan.project.fingerprint import fingerprint_models
from dataplan.project.graph import ModelGraph
from dataplan.project.lineage import ColumnRef, model_lineage
from dataplan.project.loader import ProjectLoader, make_resolver
from dataplan.project.nodes import Exposure, Model, SingularTest, SourceTable
from dataplan.project.sql import Resolved, Resolver, rewrite_references

__all__ = ["Exposure", "Model", "ModelGraph", "Project", "SingularTest", "SourceTable"]


@dataclass
class Project:
    """A loaded project: configuration, models, sources, exposures and tests."""

    dir: Path
    config: ProjectConfig
    models: dict[str, Model]
    sources: dict[str, SourceTable]
    exposures: list[Exposure] = field(default_factory=list)
    singular_tests: list[SingularTest] = field(default_factory=list)
    _lineage: dict[str, dict[str, set[ColumnRef]]] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, project_dir: str | Path = ".") -> Project:
        config, models, sources, exposures, tests = ProjectLoader(Path(project_dir)).load()
        project = cls(Path(project_dir).resolve(), config, models, sources, exposures, tests)
        _ = project.graph  # cycles are input errors: find them at load time
        return project

    @cached_property
    def graph(self) -> ModelGraph:
        return ModelGraph(self.models)

    @cached_property
    def fingerprints(self) -> dict[str, str]:
        return fingerprint_models(self.graph, self.sources, self.config.dialect)

    @property
    def dialect(self) -> str:
        return self.config.dialect

    def rewrite(self, query: exp.Query, path: Path, target: Callable[[Resolved], exp.Expr]) -> exp.Query:
        """``query`` with its model and source references replaced by ``target``."""
        return rewrite_references(query, self.resolver, target, path)

    @cached_property
    def resolver(self) -> Resolver:
        return make_resolver(self.config, self.models, self.sources)

    def column_lineage(self, name: str) -> dict[str, set[ColumnRef]]:
        """Output column -> (parent, column) pairs it reads; cached per model."""
        if name not in self._lineage:
            self._lineage[name] = model_lineage(self.model(name), self.resolver, self.dialect)
        return self._lineage[name]

    def model(self, name: str) -> Model:
        if name in self.models:
            return self.models[name]
        for m in self.models.values():
            if m.fqn == name:
                return m
        raise KeyError(name)
