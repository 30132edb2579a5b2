"""Loading a project directory into a ``Project``."""

from __future__ import annotations

import functools
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Literal

import sqlglot
from pydantic import ValidationError
from sqlglot import exp
from sqlglot.errors import ParseError

from dataplan.config import ProjectConfig, load_config, validation_error
from dataplan.dashboard.spec import ChartSpec
from dataplan.errors import ProjectError
from dataplan.project.nodes import Exposure, Model, SingularTest, SourceTable
from dataplan.project.resolver import make_resolver
from dataplan.project.specs import (
    DependsOn,
    ExposuresFile,
    ExposureSpec,
    MissingColumn,
    ModelsFile,
    ModelSpec,
    SourcesFile,
    TestSpec,
)
from dataplan.project.sql import parse_error_text, parse_query, resolve_raw, resolve_references
from dataplan.project.sqlcache import AnalysisCache, ParseCache
from dataplan.project.yamlfile import LineIndex, load_yaml

SEED_LAYER = "seeds"


def _load_file(path: Path, schema: type[Any]) -> tuple[Any, LineIndex]:
    raw, index = load_yaml(path)
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ProjectError("expected a mapping at the top level", path=path, line=1)
    try:
        return schema.model_validate(raw), index
    except ValidationError as exc:
        raise validation_error(exc, index, ProjectError, schema) from exc


def _parse_tests(
    raw_model: list[Any],
    columns: list[Any],
    index: LineIndex,
    key: tuple[str | int, ...],
    dialect: str,
    located: list[tuple[TestSpec, LineIndex, tuple[str | int, ...]]],
) -> list[TestSpec]:
    """The declared tests; each is also appended to ``located`` with where it is declared."""
    tests: list[TestSpec] = []
    items = [(t, None, key + ("tests", i)) for i, t in enumerate(raw_model)]
    for ci, col in enumerate(columns):
        items += [(t, col.name, key + ("columns", ci, "tests", i)) for i, t in enumerate(col.tests)]
    for raw, column, where in items:
        try:
            spec = TestSpec.parse(raw, column)
            if spec.kind == "expression":  # a broken predicate is the YAML's fault, found before any run
                sqlglot.parse_one(spec.args["expr"], read=dialect)
        except (ValueError, ParseError) as exc:
            message = (
                f"test expression: SQL syntax error: {parse_error_text(exc, of='the expression')}"
                if isinstance(exc, ParseError)
                else str(exc)
            )
            raise ProjectError(message, path=index.path, line=index.line(where)) from exc
        tests.append(spec)
        located.append((spec, index, where))
    return tests


@functools.lru_cache(maxsize=512)
def _data_type(text: str, dialect: str) -> exp.DataType:
    return exp.DataType.build(text, dialect=dialect)  # a few types, used by hundreds of columns


def _check_unique_columns(columns: list[Any], index: LineIndex, key: tuple[str | int, ...]) -> None:
    """A column listed twice: its second entry's type and tests would silently replace or add to the first."""
    first: dict[str, int] = {}
    for ci, col in enumerate(columns):
        seen = first.setdefault(col.name.lower(), ci)
        if seen != ci:
            raise ProjectError(
                f"column {col.name} is listed twice (also at line {index.line(key + ('columns', seen))})",
                path=index.path,
                line=index.line(key + ("columns", ci)),
                hint="merge the two entries: one entry per column, with all its tests",
            )


def _check_types(columns: list[Any], dialect: str, index: LineIndex, key: tuple[str | int, ...]) -> None:
    for ci, col in enumerate(columns):
        if col.type is None:
            continue
        try:
            _data_type(col.type, dialect)
        except (ParseError, ValueError) as exc:
            raise ProjectError(
                f"unsupported column type {col.type!r} for column {col.name}",
                path=index.path,
                line=index.line(key + ("columns", ci, "type")),
                hint=f"use a {dialect} SQL type such as varchar, bigint, double, decimal(18,2), date",
            ) from exc


def _with_chart_reads(declared: list[DependsOn], charts: list[ChartSpec], fqns: dict[str, str]) -> list[DependsOn]:
    """The declared dependencies plus the models and columns the charts read: a plan must see both."""
    deps: dict[str, DependsOn] = {}
    for dep in declared:
        deps.setdefault(fqns[dep.model], dep)
    added: list[DependsOn] = []
    for chart in charts:
        found = deps.get(fqns[chart.model])
        if found is None:
            deps[fqns[chart.model]] = DependsOn(model=chart.model, columns=list(chart.columns))
            added.append(deps[fqns[chart.model]])
        elif found.columns:  # no columns declared means every column: already covers the chart
            found.columns += [c for c in chart.columns if c not in found.columns]
    return declared + added


def load_sources(project_dir: Path) -> dict[str, SourceTable]:
    """The project's source tables by name (``source.table``), without reading its models."""
    return ProjectLoader(project_dir)._sources()


class ProjectLoader:
    def __init__(self, project_dir: Path) -> None:
        self.dir = project_dir.resolve()
        self.config: ProjectConfig = load_config(self.dir)
        self.dialect = self.config.dialect
        # Every declared test and where: lines are looked up only for an error (indexing costs a YAML parse).
        self.tests: list[tuple[TestSpec, LineIndex, tuple[str | int, ...]]] = []
        # Output columns of the models exposures name, cached by SQL text (created only when needed).
        self._analysis: AnalysisCache | None = None

    def load(
        self,
    ) -> tuple[ProjectConfig, dict[str, Model], dict[str, SourceTable], list[Exposure], list[SingularTest]]:
        sources = self._sources()
        models = self._models()
        self._apply_specs(models)
        self._resolve(models, sources)
        self._check_relationships(models, sources)
        self._check_test_columns(models)
        exposures = self._exposures(models)
        if self._analysis is not None:
            self._analysis.save(m.sql_text for m in models.values() if m.kind == "sql")
        tests = self._singular_tests(models, sources)
        return self.config, models, sources, exposures, tests

    # -- sources ---------------------------------------------------------
    def _sources(self) -> dict[str, SourceTable]:
        path = self.dir / "sources.yml"
        if not path.exists():
            return {}
        parsed, index = _load_file(path, SourcesFile)
        out: dict[str, SourceTable] = {}
        for si, src in enumerate(parsed.sources):
            if src.format is not None and not src.path:
                raise ProjectError(
                    f"source {src.name} has format {src.format} but no path",
                    path=path,
                    line=index.line(("sources", si)),
                )
            for ti, table in enumerate(src.tables):
                key = ("sources", si, "tables", ti)
                _check_unique_columns(table.columns, index, key)
                node = SourceTable(src, table, self.dir, yaml_index=index, yaml_key=key)
                node.tests = _parse_tests(table.tests, table.columns, index, key, self.dialect, self.tests)
                if node.name in out:
                    raise ProjectError(f"source table {node.name} is declared twice", path=path, line=index.line(key))
                out[node.name] = node
        return out

    # -- models ----------------------------------------------------------
    def _models(self) -> dict[str, Model]:
        models: dict[str, Model] = {}
        default = self.config.defaults.materialized
        cache = ParseCache(self.dir, self.dialect)
        for path in sorted((self.dir / "models").rglob("*.sql")):
            rel = path.relative_to(self.dir / "models")
            if len(rel.parts) < 2:
                raise ProjectError(
                    "a model file must live in a layer folder",
                    path=path,
                    hint="move it to models/<layer>/, e.g. models/staging/",
                )
            if self.config.schema_for(rel.parts[0]).lower() == self.config.state_schema.lower():
                raise ProjectError(
                    f"layer {rel.parts[0]} would put its views in {self.config.state_schema}, dataplan's own schema",
                    path=path,
                    hint="rename the layer folder, or map it to another schema (layers: in dataplan.yml)",
                )
            text = path.read_text(encoding="utf-8")
            parsed, query = cache.get(text, path)
            self._add(
                models,
                Model(
                    name=path.stem,
                    layer=rel.parts[0],
                    path=path,
                    kind="sql",
                    spec=ModelSpec(name=path.stem),
                    materialized=default,
                    sql_text=text,
                    dialect=self.dialect,
                    normalized=parsed.normalized,
                    refs=parsed.refs,
                    _query=query,
                ),
            )
        cache.save()
        for path in sorted((self.dir / "seeds").glob("*.csv")):
            self._add(
                models,
                Model(
                    name=path.stem,
                    layer=SEED_LAYER,
                    path=path,
                    kind="seed",
                    spec=ModelSpec(name=path.stem),
                    materialized="table",
                ),
            )
        return {m.name: m for m in models.values()}

    @staticmethod
    def _add(models: dict[str, Model], model: Model) -> None:
        # SQL names ignore case (references resolve without it, DuckDB views too): Stats and stats clash.
        # Keyed by the lower-cased name; Model.name keeps the file's spelling.
        other = models.get(model.name.lower())
        if other is not None:
            raise ProjectError(
                f"two models are named {model.name}: {other.path} and {model.path}",
                path=model.path,
                hint="model names are unique across layers, whatever their case; rename one file",
            )
        models[model.name.lower()] = model

    def _apply_specs(self, models: dict[str, Model]) -> None:
        files = [p for ext in ("*.yml", "*.yaml") for d in ("models", "seeds") for p in (self.dir / d).rglob(ext)]
        seen: dict[str, Path] = {}
        for path in sorted(files):
            parsed, index = _load_file(path, ModelsFile)
            for mi, spec in enumerate(parsed.models):
                key = ("models", mi)
                if spec.name not in models:
                    raise ProjectError(
                        f"configuration for unknown model {spec.name}",
                        path=path,
                        line=index.line(key),
                        hint=f"create models/<layer>/{spec.name}.sql or fix the name",
                    )
                if spec.name in seen:
                    raise ProjectError(
                        f"model {spec.name} is configured twice (also in {seen[spec.name]})",
                        path=path,
                        line=index.line(key),
                    )
                seen[spec.name] = path
                model = models[spec.name]
                model.spec, model.yaml_path, model.yaml_index, model.yaml_key = spec, path, index, key
                if model.kind == "sql" and spec.materialized:
                    model.materialized = spec.materialized
                if model.materialized == "incremental_by_time" and not (spec.time_column and spec.start):
                    raise ProjectError(
                        f"incremental_by_time model {spec.name} needs time_column and start",
                        path=path,
                        line=index.line(key),
                    )
                _check_unique_columns(spec.columns, index, key)
                _check_types(spec.columns, self.dialect, index, key)
                declared = len(self.tests)
                model.tests = _parse_tests(spec.tests, spec.columns, index, key, self.dialect, self.tests)
                model.test_keys = [where for _, _, where in self.tests[declared:]]

    def _resolve(self, models: dict[str, Model], sources: dict[str, SourceTable]) -> None:
        resolve = make_resolver(self.config, models, sources)
        for model in models.values():
            if model.kind == "seed":
                continue
            refs = resolve_raw(model.refs, resolve, model.path)
            model.parents = sorted({r.name for r in refs if r.kind == "model"})
            model.sources = sorted({r.name for r in refs if r.kind == "source"})
            if model.name in model.parents:
                raise ProjectError(f"model {model.name} reads itself", path=model.path)

    def _check_relationships(self, models: dict[str, Model], sources: dict[str, SourceTable]) -> None:
        resolve = make_resolver(self.config, models, sources)
        for spec, index, where in self.tests:
            if spec.kind != "relationships":
                continue
            parent = resolve.dotted(str(spec.args["to"]))
            if parent is None:
                raise ProjectError(
                    f"relationships test on {spec.column}: `to: {spec.args['to']}` is not a model or source",
                    path=index.path,
                    line=index.line(where),
                    hint="name a model (`<layer>.<name>` or the bare name) or a source table (`<source>.<table>`)",
                )
            # The field is the parent's column: one its SQL does not output fails only in the engine.
            field = str(spec.args["field"])
            known = self._output_columns(models[parent.name]) if parent.kind == "model" else None
            if known is not None and field.lower() not in known:
                close = get_close_matches(field.lower(), sorted(known), n=1)
                raise ProjectError(
                    f"relationships test on {spec.column}: `field: {field}`: model {models[parent.name].fqn}"
                    f" has no column {field}",
                    path=index.path,
                    line=index.line(where),
                    hint=(f"did you mean {close[0]}? " if close else "")
                    + f"{models[parent.name].path.name} outputs: {', '.join(sorted(known))}",
                )

    def _check_test_columns(self, models: dict[str, Model]) -> None:
        """A test or grain naming a column the model's SQL does not output is a YAML error, found before any
        build: otherwise it builds, and then fails in ``dataplan test`` with the engine's binder error.

        Only models whose output columns are known without the engine are checked (not ``SELECT *``):
        ``dataplan test`` checks the others against the tested relation (``TestRunner``).
        """
        for model in models.values():
            reads = model.column_reads() if model.kind == "sql" else []
            if not reads:
                continue
            known = self._output_columns(model)
            if known is None:
                continue
            model.test_columns_checked = True
            error = model.unknown_column(known, f"{model.path.name} outputs", reads)
            if error is not None:
                raise error

    # -- exposures and singular tests --------------------------------------
    def _exposures(self, models: dict[str, Model]) -> list[Exposure]:
        path = self.dir / "exposures.yml"
        if not path.exists():
            return []
        parsed, index = _load_file(path, ExposuresFile)
        fqns = {m.fqn: m.name for m in models.values()} | {m.name: m.name for m in models.values()}
        out = []
        for ei, spec in enumerate(parsed.exposures):
            for di, dep in enumerate(spec.depends_on):
                if dep.model not in fqns:
                    raise ProjectError(
                        f"exposure {spec.name} depends on unknown model {dep.model}",
                        path=path,
                        line=index.line(("exposures", ei, "depends_on", di)),
                    )
            charts: list[ChartSpec] = []
            for ci, chart in enumerate(spec.charts):
                where = index.line(("exposures", ei, "charts", ci))
                try:
                    parsed_chart = ChartSpec.model_validate(chart)
                except ValidationError as exc:
                    first = exc.errors()[0]
                    loc = ".".join(str(p) for p in first["loc"]) or "chart"
                    raise ProjectError(
                        f"exposure {spec.name}, chart {ci + 1}: {loc}: {first['msg']}", path=path, line=where
                    ) from exc
                if parsed_chart.model not in fqns:
                    raise ProjectError(
                        f"exposure {spec.name}, chart {parsed_chart.title!r} reads unknown model {parsed_chart.model}",
                        path=path,
                        line=where,
                    )
                charts.append(parsed_chart)
            self._check_exposure_columns(spec, ei, charts, {k: models[v] for k, v in fqns.items()}, index)
            spec.depends_on = _with_chart_reads(spec.depends_on, charts, fqns)
            out.append(Exposure(spec, path))
        return out

    def _check_exposure_columns(
        self, spec: ExposureSpec, ei: int, charts: list[ChartSpec], by_name: dict[str, Model], index: LineIndex
    ) -> None:
        """Records the columns an exposure (or one of its charts) reads that its model does not output.

        Not an error here: a column the change being planned removes is the plan's to report (a breaking
        change feeding the exposure); ``Warehouse`` refuses the ones no version of the model ever had.
        Only the models exposures name are looked at. A model whose output columns cannot be known
        without the engine (``SELECT *``, an unnamed expression) is not checked rather than guessed.
        """
        reads: list[tuple[str, str, tuple[str | int, ...]]] = []
        for di, dep in enumerate(spec.depends_on):
            reads += [
                (dep.model, c, ("exposures", ei, "depends_on", di, "columns", i)) for i, c in enumerate(dep.columns)
            ]
        for ci, chart in enumerate(charts):
            at = ("exposures", ei, "charts", ci)
            fields: list[tuple[str, str | None, tuple[int, ...]]]
            fields = [("x", chart.x, ()), ("series", chart.series, ()), ("value", chart.value, ())]
            fields += [("y", c, (i,)) for i, c in enumerate(chart.y)]
            reads += [(chart.model, c, (*at, key, *sub)) for key, c, sub in fields if c is not None]
        for name, column, where in reads:
            model = by_name[name]
            known = self._output_columns(model)
            if known is not None and column.lower() not in known:
                found = MissingColumn(model.name, model.fqn, column, index.line(where), tuple(sorted(known)))
                if found not in spec.missing_columns:
                    spec.missing_columns.append(found)

    def _output_columns(self, model: Model) -> set[str] | None:
        """The model's output column names (lower-cased), or None when they cannot be known statically."""
        declared = {c.name.lower() for c in model.spec.columns}
        if model.kind != "sql":
            return declared if model.spec.contract.enforced and declared else None
        if self._analysis is None:
            self._analysis = AnalysisCache(self.dir, self.dialect)

        def compute() -> list[str] | None:
            assert model.query is not None
            names = [s.output_name for s in model.query.selects]
            if any(not n or n == "*" for n in names) or any(isinstance(s, exp.Star) for s in model.query.selects):
                return None  # SELECT *, t.*, or a column the engine names itself
            return names

        names = self._analysis.get(model.sql_text, "outputs", compute)
        if names is None:  # an enforced contract declares every column the model outputs
            return declared if model.spec.contract.enforced and declared else None
        return {str(n).lower() for n in names}

    def _singular_tests(self, models: dict[str, Model], sources: dict[str, SourceTable]) -> list[SingularTest]:
        resolve = make_resolver(self.config, models, sources)
        out = []
        for path in sorted((self.dir / "tests").glob("*.sql")):
            text = path.read_text(encoding="utf-8")
            query = parse_query(text, self.dialect, path)
            refs = resolve_references(query, resolve, path)
            severity: Literal["warn", "error"] = "warn" if "-- severity: warn" in text.lower() else "error"
            out.append(
                SingularTest(
                    name=path.stem,
                    path=path,
                    query=query,
                    parents=sorted({r.name for _, r in refs if r.kind == "model"}),
                    sources=sorted({r.name for _, r in refs if r.kind == "source"}),
                    severity=severity,
                )
            )
        return out
