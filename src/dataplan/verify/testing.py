"""Running a project's tests against an environment."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field

from sqlglot import exp

from dataplan.backends.base import Backend, ident, select_star, table
from dataplan.backends.files import FileLoad
from dataplan.errors import DataplanError, EngineError, ProjectError, StateError
from dataplan.project import Project
from dataplan.project.nodes import Model, SingularTest
from dataplan.project.specs import TestSpec
from dataplan.project.sql import Resolved
from dataplan.state.store import EnvironmentModel
from dataplan.verify.model_tests import (
    TestResult,
    failing_rows_query,
    run_failing_query,
    run_row_count,
    unique_grain_query,
)


@dataclass
class ViewCopy:
    """A view whose rows were computed once into a temporary table, for its several tests."""

    node: str
    seconds: float


@dataclass
class TestRun:
    environment: str
    results: list[TestResult] = field(default_factory=list)
    copies: list[ViewCopy] = field(default_factory=list)
    loaded: list[FileLoad] = field(default_factory=list)  # file sources loaded first (engines without files)

    @property
    def failed(self) -> list[TestResult]:
        return [r for r in self.results if r.outcome == "fail"]

    @property
    def warned(self) -> list[TestResult]:
        return [r for r in self.results if r.outcome == "warn"]

    @property
    def passed(self) -> list[TestResult]:
        return [r for r in self.results if r.outcome == "pass"]


class TestRunner:
    def __init__(self, project: Project, backend: Backend, env_models: dict[str, EnvironmentModel]) -> None:
        self.project = project
        self.backend = backend
        self.env = env_models
        self.environment = ""  # set by run(), for messages

    def relation(self, ref: Resolved) -> exp.Expr:
        if ref.kind == "source":
            return self.backend.source_relation(self.project.sources[ref.name])
        if ref.name not in self.env:
            raise StateError(f"model {self.project.models[ref.name].fqn} is not built in {self.environment}")
        entry = self.env[ref.name]
        return table(entry.view_schema, entry.model)

    def _model_relation(self, name: str) -> exp.Table:
        model = self.project.model(name)
        rel = self.relation(Resolved("model", model.name))
        assert isinstance(rel, exp.Table)
        return rel

    def _reference(self, name: str) -> exp.Expr:
        ref = self.project.resolver.dotted(name)
        assert ref is not None  # the loader checked every relationships `to`
        return self.relation(ref)

    def _check_test_columns(self, model: Model) -> None:
        """A column its grain or tests name that its built relation lacks is the YAML's error (exit 2, the
        test's line), found before any test runs: otherwise each such test fails with the engine's binder
        error. The loader checked the models whose SELECT names its columns; this checks the others
        (``SELECT *``) against what the environment's view returns, with one zero-row query."""
        if model.test_columns_checked:
            return
        reads = model.column_reads()
        if not reads:
            return
        try:
            columns = self.backend.describe(select_star(self._model_relation(model.name)))
        except EngineError:  # a view that cannot be read: each test reports the engine's error
            return
        error = model.unknown_column(
            {c.name.lower() for c in columns}, f"{model.fqn} in {self.environment} has the columns", reads
        )
        if error is not None:
            raise error

    def _check_singular(self, test: SingularTest, query: exp.Query) -> None:
        """A column a singular test names that its models lack is the test file's error (exit 2, the line
        it is written on), found before any test runs, as for a model's tests: binding the query costs no
        scan. Other refusals stay the test's failure, in the engine's words."""
        from dataplan.build.contracts import unknown_column_line

        try:
            self.backend.describe(query)
        except EngineError as exc:
            if exc.transient:
                raise
            line = unknown_column_line(test, exc.message)
            if line is None:
                return
            raise ProjectError(
                f"test {test.name} cannot run: {exc.message}",
                path=test.path,
                line=line,
                hint="a column it reads may be misspelled, or removed or renamed upstream: fix this test",
            ) from exc

    def _tested_relation(self, model: Model, run: TestRun, stack: ExitStack) -> exp.Table:
        """What ``model``'s tests read: a view with several tests is computed once into a temporary copy.

        Each test of a view otherwise recomputes it (the demo's staging views dedupe and window raw
        files), so a copy costs about one test and makes the others cheap. A view that fails to
        compute is tested as it is, and each test then reports the engine's error.
        """
        rel = self._model_relation(model.name)
        if model.materialized != "view" or len(model.tests) + bool(model.spec.grain) < 2:
            return rel
        t0 = time.perf_counter()
        try:
            copy = stack.enter_context(self.backend.scratch_copy(f"_dataplan_test_{model.name}", select_star(rel)))
        except EngineError:
            return rel
        run.copies.append(ViewCopy(model.fqn, time.perf_counter() - t0))
        # Aliased as the model: a test may name it (`stg_orders.amount >= 0`), as it would on the view.
        named = copy.copy()
        named.set("alias", exp.TableAlias(this=ident(model.name)))
        return named

    def _spec_tests(self, node: str, relation: exp.Table, specs: list[TestSpec]) -> list[TestResult]:
        out = []
        for spec in specs:
            if spec.kind == "row_count":
                out.append(run_row_count(self.backend, node, spec, relation))
                continue
            try:
                query = failing_rows_query(spec, relation, self.project.dialect, self._reference)
            except DataplanError as exc:  # e.g. the parent of a relationships test is not built here
                out.append(TestResult(node, spec.name, spec.severity, "fail", 0, [], 0.0, exc.message))
                continue
            assert query is not None
            out.append(run_failing_query(self.backend, node, spec.name, spec.severity, query))
        return out

    def run(
        self,
        environment: str,
        names: list[str],
        everything: bool,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> TestRun:
        run = TestRun(environment)
        self.environment = environment
        # A selected model that is not built fails: skipping it would report its tests as passing.
        unbuilt = [self.project.models[n] for n in names if n not in self.env]
        run.results += [
            TestResult(m.fqn, "built", "error", "fail", 0, [], 0.0, f"not built in {environment}") for m in unbuilt
        ]
        models = [self.project.models[n] for n in names if n in self.env]
        for model in models:  # bad input stops the run before any test, or a temporary copy, runs
            self._check_test_columns(model)
        sources = sorted({s for m in models for s in m.sources} | (set(self.project.sources) if everything else set()))
        singular = [
            t for t in self.project.singular_tests if everything or (t.parents and set(t.parents) <= set(names))
        ]
        queries = {  # the singular tests whose models are built, read from the environment's views
            t.name: self.project.rewrite(t.query, t.path, self.relation)
            for t in singular
            if all(p in self.env for p in t.parents)
        }
        for test in singular:
            if test.name in queries:
                self._check_singular(test, queries[test.name])
        total = len(models) + len(sources) + len(singular)
        done = 0

        def tick(label: str) -> None:
            nonlocal done
            if progress:
                progress(label, done, total)
            done += 1

        for source_name in sources:
            tick(f"testing {source_name}")
            src = self.project.sources[source_name]
            if src.tests:
                rel = self.relation(Resolved("source", source_name))
                run.results += self._spec_tests(source_name, rel, src.tests)  # type: ignore[arg-type]
        for model in models:
            tick(f"testing {model.fqn}")
            with ExitStack() as stack:
                rel = self._tested_relation(model, run, stack)
                results = []
                if model.spec.grain:
                    q = unique_grain_query(model.spec.grain, rel)
                    grain = f"unique_grain({', '.join(model.spec.grain)})"
                    results.append(run_failing_query(self.backend, model.fqn, grain, "error", q))
                results += self._spec_tests(model.fqn, rel, model.tests)
            for r in results:  # an engine message names the copy: name the view the user knows
                if r.error and rel.name != model.name:
                    r.error = r.error.replace(rel.name, model.name)
            run.results += results
        for test in singular:
            tick(f"testing {test.name}")
            missing = [p for p in test.parents if p not in self.env]
            if missing:
                run.results.append(
                    TestResult(
                        test.name,
                        test.name,
                        test.severity,
                        "fail",
                        0,
                        [],
                        0.0,
                        f"models not in {environment}: {', '.join(missing)}",
                    )
                )
                continue
            run.results.append(run_failing_query(self.backend, test.name, test.name, test.severity, queries[test.name]))
        return run
