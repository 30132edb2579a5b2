"""pydantic models for ``dataplan.yml`` and backend connections."""

from __future__ import annotations

from difflib import get_close_matches
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from dataplan.errors import ConfigError, InputError
from dataplan.project.yamlfile import LineIndex, load_yaml, substitute_env
from dataplan.secrets import register_dsn

CONFIG_FILE = "dataplan.yml"
Materialization = Literal["view", "table", "incremental_by_time"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DuckDBConnection(_Strict):
    type: Literal["duckdb"]
    path: str = "warehouse.duckdb"
    threads: int | None = None
    # DuckDB's memory_limit, e.g. "512MB": past it, joins and aggregates spill to <path>.tmp
    # (the default, 80% of RAM, lets the buffer pool keep whole tables cached)
    memory_limit: str | None = Field(default=None, pattern=r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$")

    def describe(self) -> str:
        return f"duckdb:{self.path}"


class PostgresConnection(_Strict):
    type: Literal["postgres"]
    dsn: SecretStr

    def describe(self) -> str:
        from dataplan.secrets import redact

        return "postgres:" + redact(self.dsn.get_secret_value())


Connection = Annotated[DuckDBConnection | PostgresConnection, Field(discriminator="type")]


class RollbackTriggers(_Strict):
    """Declared now so projects can carry them; the rollout executor reads them."""

    row_count_drop_pct: float | None = None
    test_failures: int | None = None
    metric_drift: dict[str, float | str] | None = None


class Defaults(_Strict):
    materialized: Materialization = "view"
    batch_days: int = Field(default=30, gt=0)
    rollback_when: RollbackTriggers | None = None


class ProjectConfig(_Strict):
    name: str
    dialect: str = "duckdb"
    connection: Connection
    layers: dict[str, str] = Field(default_factory=dict)
    defaults: Defaults = Field(default_factory=lambda: Defaults())
    state_schema: str = "_dataplan"

    @field_validator("dialect")
    @classmethod
    def _known_dialect(cls, value: str) -> str:
        from sqlglot.dialects.dialect import Dialect

        try:
            Dialect.get_or_raise(value)
        except ValueError as exc:
            raise ValueError(f"unknown SQL dialect {value!r} (e.g. duckdb, postgres, snowflake, bigquery)") from exc
        return value

    def schema_for(self, layer: str) -> str:
        return self.layers.get(layer, layer)


def _setting_names(model: Any, seen: set[Any] | None = None) -> set[str]:
    """Every setting name ``model`` and the models inside it accept: what a misspelled key may have meant."""
    seen = set() if seen is None else seen
    if isinstance(model, type) and issubclass(model, BaseModel):
        if model in seen:
            return set()
        seen.add(model)
        names: set[str] = set()
        for name, info in model.model_fields.items():
            names.add(info.alias or name)
            names |= _setting_names(info.annotation, seen)
        return names
    return {n for arg in get_args(model) for n in _setting_names(arg, seen)}


def validation_error(
    exc: ValidationError, index: LineIndex, cls: type[InputError], model: type[BaseModel] | None = None
) -> InputError:
    """The first pydantic error, as a dataplan error naming file and line."""
    # An unknown key explains a "missing" one (a typo), so report it first.
    err = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in {"duckdb", "postgres"}))
    where = ".".join(str(p) for p in loc) or "(top level)"
    msg = err["msg"]
    hint = "see docs/project-format.md"
    if err["type"] == "missing":
        msg = f"missing setting {where}"
    elif err["type"] == "extra_forbidden":
        msg = f"unknown setting {where}"
        close = get_close_matches(str(loc[-1]), sorted(_setting_names(model)), n=1) if model and loc else []
        if close:
            hint = f"did you mean {close[0]}? {hint}"
    else:
        msg = f"{where}: {msg}"
    return cls(msg, path=index.path, line=index.line(loc), hint=hint)


def load_config(project_dir: Path) -> ProjectConfig:
    path = project_dir / CONFIG_FILE
    if not path.exists():
        raise ConfigError(
            f"no {CONFIG_FILE} in {project_dir}",
            hint="run `dataplan init` to create a project, or pass --project DIR",
        )
    raw, index = load_yaml(path, error=ConfigError)
    if not isinstance(raw, dict):
        raise ConfigError("expected a mapping of settings", path=path, line=1)
    raw = substitute_env(raw, index)
    if isinstance(raw.get("connection"), dict) and "type" not in raw["connection"]:
        raise ConfigError(
            "missing setting connection.type",
            path=path,
            line=index.line(("connection",)),
            hint="set connection.type to duckdb or postgres",
        )
    try:
        config = ProjectConfig.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(exc, index, ConfigError, ProjectConfig) from exc
    if isinstance(config.connection, PostgresConnection):
        register_dsn(config.connection.dsn.get_secret_value())
    return config
