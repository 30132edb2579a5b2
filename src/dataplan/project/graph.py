"""The model graph: order, ancestry and selection."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from graphlib import CycleError, TopologicalSorter

from dataplan.errors import ProjectError, SelectionError
from dataplan.project.nodes import Model


class ModelGraph:
    def __init__(self, models: dict[str, Model]) -> None:
        self.models = models
        self.children: dict[str, set[str]] = {name: set() for name in models}
        for model in models.values():
            for parent in model.parents:
                self.children[parent].add(model.name)
        sorter = TopologicalSorter({m.name: sorted(m.parents) for m in models.values()})
        try:
            self.order: list[str] = list(sorter.static_order())
        except CycleError as exc:
            cycle: list[str] = exc.args[1]
            files = ", ".join(str(models[n].path.name) for n in cycle[:-1])
            raise ProjectError(
                "dependency cycle: " + " -> ".join(cycle),
                path=models[cycle[0]].path,
                hint=f"break the cycle between {files}",
            ) from exc
        self._position = {name: i for i, name in enumerate(self.order)}

    def sorted(self, names: Iterable[str]) -> list[str]:
        return sorted(set(names), key=self._position.__getitem__)

    def upstream(self, name: str) -> set[str]:
        seen: set[str] = set()
        stack = list(self.models[name].parents)
        while stack:
            n = stack.pop()
            if n not in seen:
                seen.add(n)
                stack.extend(self.models[n].parents)
        return seen

    def downstream(self, name: str) -> set[str]:
        seen: set[str] = set()
        stack = list(self.children[name])
        while stack:
            n = stack.pop()
            if n not in seen:
                seen.add(n)
                stack.extend(self.children[n])
        return seen

    def _lookup(self, token: str) -> str:
        if token in self.models:
            return token
        matches = [m.name for m in self.models.values() if m.fqn == token]
        if matches:
            return matches[0]
        names = [m.name for m in self.models.values()] + [m.fqn for m in self.models.values()]
        close = difflib.get_close_matches(token, names, n=3, cutoff=0.75)
        suggestion = f"did you mean {' or '.join(close)}? " if close else ""
        raise SelectionError(
            f"--select {token!r} matches no model",
            hint=f"{suggestion}use a model name, +name, name+, layer:<layer>, or a comma list",
        )

    def select(self, selector: str | None) -> list[str]:
        """Models matching a dbt-style selector, in build order (None = all)."""
        if selector is None:
            return list(self.order)
        if not selector.strip(" ,"):
            # An empty selection is a mistake (an unset shell variable), never "everything".
            raise SelectionError("--select is empty", hint="leave --select out to select every model")
        chosen: set[str] = set()
        for token in (t.strip() for t in selector.split(",")):
            if not token:
                continue
            if token.startswith("layer:"):
                layer = token.removeprefix("layer:")
                hits = {m.name for m in self.models.values() if m.layer == layer}
                if not hits:
                    layers = sorted({m.layer for m in self.models.values()})
                    raise SelectionError(
                        f"--select {token!r}: no model in layer {layer!r}", hint=f"the layers: {', '.join(layers)}"
                    )
                chosen |= hits
                continue
            up, down = token.startswith("+"), token.endswith("+")
            name = self._lookup(token.strip("+"))
            chosen.add(name)
            if up:
                chosen |= self.upstream(name)
            if down:
                chosen |= self.downstream(name)
        return self.sorted(chosen)
