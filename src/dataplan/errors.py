"""Errors dataplan raises, and the exit code each maps to.

Hierarchy::

    DataplanError                 exit 1  (root; never raised directly)
    ├── InputError                exit 2  bad input: the user must change something
    │   ├── ConfigError                   dataplan.yml / connection settings
    │   ├── ProjectError                  models, YAML, references, cycles, names
    │   ├── ContractError                 output columns differ from an enforced contract
    │   └── SelectionError                a --select that matches nothing / is malformed
    ├── StateError                exit 2  the warehouse state forbids the operation
    ├── EngineError               exit 3  the engine or connection failed
    │   └── MissingDriverError            the engine's extra is not installed
    └── CheckFailed               exit 1  data tests or checks failed (not an error in dataplan)

Every error carries an optional ``path`` and ``line`` so the CLI can say where
to look, and a ``hint`` saying what to do.
"""

from __future__ import annotations

import re
from pathlib import Path

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """``text`` without terminal escape codes (sqlglot underlines the token a parse error is about)."""
    return _ANSI.sub("", text)


class DataplanError(Exception):
    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        # Errors are printed, logged and written to files: never with a library's terminal escape codes.
        message = strip_ansi(message)
        super().__init__(message)
        self.message = message
        self.path = Path(path) if path is not None else None
        self.line = line
        self.hint = strip_ansi(hint) if hint is not None else None

    @property
    def location(self) -> str | None:
        if self.path is None:
            return None
        return f"{self.path}:{self.line}" if self.line else str(self.path)

    def __str__(self) -> str:
        parts = [f"{self.location}: {self.message}" if self.location else self.message]
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)


class InputError(DataplanError):
    exit_code = 2


class ConfigError(InputError):
    pass


class ProjectError(InputError):
    pass


class ContractMismatch(str):
    """One way a model's output breaks its contract (the text), and the line of the declared column it is
    about in the model's YAML (None when no declared column is: a column returned but not declared)."""

    line: int | None

    def __new__(cls, text: str, line: int | None = None) -> ContractMismatch:
        self = super().__new__(cls, text)
        self.line = line
        return self


class ContractError(InputError):
    """``line`` is where the contract is declared; the error points at the first declared column a
    mismatch is about instead, and with mismatches on several lines each says its line."""

    def __init__(self, model: str, mismatches: list[str], **kwargs: object) -> None:
        lines = [line for m in mismatches if (line := getattr(m, "line", None)) is not None]
        several = len(set(lines)) > 1

        def item(m: str) -> str:
            line = getattr(m, "line", None)
            return f"  - {m} (line {line})" if several and line is not None else f"  - {m}"

        text = f"model {model} breaks its enforced contract:\n" + "\n".join(item(m) for m in mismatches)
        if lines:
            kwargs["line"] = lines[0]
        super().__init__(text, **kwargs)  # type: ignore[arg-type]
        self.model = model
        self.mismatches = mismatches


class SelectionError(InputError):
    pass


class StateError(DataplanError):
    exit_code = 2


class EngineError(DataplanError):
    exit_code = 3

    def __init__(self, message: str, *, transient: bool = False, overflow: bool = False, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.transient = transient  # a retry may succeed (connection dropped, lock timeout)
        self.overflow = overflow  # a numeric result left its type's range: the same figures scaled may not


class MissingDriverError(EngineError):
    pass


class CheckFailed(DataplanError):
    exit_code = 1
