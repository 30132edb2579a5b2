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
from dataplan.project.lineage import ColumnRef, RawReads, Reads, raw_lineage, raw_reads, resolve_lineage, resolve_reads
from dataplan.project.loader import ProjectLoader
from dataplan.project.nodes import Exposure, Model, SingularTest, SourceTable
from dataplan.project.resolver import ReferenceResolver, make_resolver
from dataplan.project.sql import Resolved, rewrite_references
from dataplan.project.sqlcache import AnalysisCache

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
    def resolver(self) -> ReferenceResolver:
        return make_resolver(self.config, self.models, self.sources)

    @cached_property
    def analysis(self) -> AnalysisCache:
        """Columns read and lineage per model SQL text, kept in ``.dataplan/cache`` (see ``save_analysis``)."""
        return AnalysisCache(self.dir, self.dialect)

    def column_lineage(self, name: str) -> dict[str, set[ColumnRef]]:
        """Output column -> (parent, column) pairs it reads; cached per model and by SQL text."""
        if name not in self._lineage:
            model = self.model(name)
            raw = self.analysis.get(model.sql_text, "lineage", lambda: raw_lineage(model.query, self.dialect))
            self._lineage[name] = resolve_lineage(raw, model, self.resolver)
        return self._lineage[name]

    def reads(self, name: str) -> Reads:
        """Which parent columns the model reads and which of them decide its rows; cached by SQL text."""
        model = self.model(name)

        def compute() -> dict[str, object]:
            assert model.query is not None
            return raw_reads(model.query, self.dialect).to_json()

        return resolve_reads(RawReads.from_json(self.analysis.get(model.sql_text, "reads", compute)), self.resolver)

    def save_analysis(self) -> None:
        """Write what ``reads`` and ``column_lineage`` computed, for the next plan."""
        self.analysis.save(m.sql_text for m in self.models.values() if m.kind != "seed")

    def model(self, name: str) -> Model:
        if name in self.models:
            return self.models[name]
        for m in self.models.values():
            if m.fqn == name:
                return m
        raise KeyError(name)
