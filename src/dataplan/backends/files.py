"""File sources on engines that cannot read files: the files are loaded into a table, again when they change.

DuckDB reads a source's Parquet or CSV files where they lie (``read_parquet`` over the ``dt=`` folders).
Postgres cannot, so a reference to such a source becomes the table ``_dataplan_files.<source>__<table>``
(``staged_name``), loaded from the same files: the ``dt`` of a ``dt=YYYY-MM-DD`` folder becomes a DATE column,
and files with different columns are read by name (a column missing from a file is NULL there), as DuckDB
reads them.

The table is a copy of the files, kept as fresh as DuckDB's reads are: before its first use in a process,
the files' fingerprint (each file's path, size and modification time) is compared with the one recorded on
the table, and when they differ the table is emptied and loaded again, in one transaction with the new
fingerprint. It is loaded in place, never dropped, so views built on it keep working; a column that new
files add is added to it. Nothing else about it changes: a column whose type changes, or that every file
lost, stops the load with an error saying so.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from dataplan.errors import EngineError, InputError
from dataplan.project.nodes import PARTITION, partitioned

if TYPE_CHECKING:
    import pyarrow.dataset as ds
    from sqlglot import exp

    from dataplan.backends.base import Backend
    from dataplan.project.nodes import SourceTable

FILES_SCHEMA = "_dataplan_files"  # beside the default state schema, _dataplan


def files_schema(state_schema: str) -> str:
    """Where a project whose state lives in ``state_schema`` loads its file sources: one schema per state
    schema, so two projects sharing a database never load into, or clean up, each other's copies."""
    return FILES_SCHEMA if state_schema == "_dataplan" else f"{state_schema}_files"


NOTE = "dataplan files "  # the table's recorded fingerprint: NOTE + sha256 of the file listing
# Rows per COPY: between two, a load says how far it got (2 million rows take about 10 s on Postgres).
LOAD_BATCH_ROWS = 100_000

LoadProgress = Callable[[str, int, int], None]  # (what, rows loaded, rows in all)


@dataclass(frozen=True)
class FileLoad:
    """One load of a file source table into its table."""

    source: str  # source.table
    table: str  # schema.table it was loaded into
    files: int
    rows: int
    seconds: float


def source_files(source: SourceTable) -> list[Path]:
    """The files a source table reads, as DuckDB's pattern (``dt=*/*.parquet`` or ``*.parquet``) finds them."""
    root, fmt = source.files_root, source.source.format or "parquet"
    if not root.is_dir():
        return []
    pattern = f"{PARTITION}=*/*.{fmt}" if partitioned(root) else f"*.{fmt}"
    return sorted(p for p in root.glob(pattern) if p.is_file())


def fingerprint(root: Path, files: list[Path]) -> str:
    """What changes when a file is added, removed or rewritten: paths, sizes and modification times."""
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def staged_name(source: SourceTable, limit: int, schema: str = FILES_SCHEMA) -> tuple[str, str]:
    """(schema, table) of the loaded copy of a file source table: ``<source>__<table>``, one per source table.

    That name alone is ambiguous when the source's name has ``__`` (``a__b.c`` and ``a.b__c``), and the
    engine cuts names longer than ``limit`` (Postgres: 63 bytes), so two long ones could meet: then the
    name ends in a hash of the source and table names instead, and two source tables never share a table
    (one would serve the other's rows).
    """
    name = f"{source.source.name}__{source.spec.name}"
    if "__" in source.source.name or len(name.encode()) > limit:
        digest = hashlib.sha256(f"{source.source.name}\0{source.spec.name}".encode()).hexdigest()[:8]
        head = name.encode()[: limit - len(digest) - 1].decode(errors="ignore")
        name = f"{head}_{digest}"
    return schema, name


def _file_format(source: SourceTable) -> str | ds.FileFormat:
    import pyarrow.csv  # noqa: F401 - pa.csv, for the CSV options
    import pyarrow.dataset as ds

    # An empty CSV field is NULL, as DuckDB's read_csv has it (Arrow's default is an empty string).
    fmt: str | ds.FileFormat = source.source.format or "parquet"
    if fmt == "csv":
        fmt = ds.CsvFileFormat(convert_options=pa.csv.ConvertOptions(strings_can_be_null=True))
    return fmt


def _unreadable(source: SourceTable, exc: Exception, culprit: tuple[Path, str] | None = None) -> InputError:
    """The files cannot be read together; ``culprit``: the file that disagrees with the ones before it, and how."""
    hint = "check the files (every file of a source table needs the same column types)"
    if culprit is not None:  # named in front of the message, as a file to fix
        return InputError(f"source {source.name}: {culprit[1]}", path=culprit[0], hint=hint)
    return InputError(
        f"source {source.name}: cannot read its {source.source.format} files under {source.files_root}: {exc}",
        hint=hint,
    )


def _disagreeing(root: Path, files: list[Path], schemas: list[pa.Schema]) -> tuple[Path, str] | None:
    """The first file with a column whose type cannot be merged with that column in the files before it."""
    seen: dict[str, tuple[pa.DataType, Path]] = {}
    for path, schema in zip(files, schemas, strict=True):
        for f in schema:
            if f.name not in seen:
                seen[f.name] = (f.type, path)
                continue
            before, first = seen[f.name]
            try:
                merged = pa.unify_schemas(
                    [pa.schema([(f.name, before)]), pa.schema([f])], promote_options="permissive"
                ).field(f.name)
            except (pa.ArrowException, TypeError):
                where = first.relative_to(root).as_posix()
                return path, f"column {f.name} is {f.type} in this file but {before} in {where} (under {root})"
            seen[f.name] = (merged.type, first)
    return None


def count_rows(source: SourceTable, files: list[Path]) -> int:
    """The rows of every file, without reading them all (Parquet: from the files' metadata)."""
    import pyarrow.dataset as ds

    try:
        return sum(ds.dataset(str(f), format=_file_format(source)).count_rows() for f in files)
    except (pa.ArrowException, OSError) as exc:
        raise _unreadable(source, exc) from exc


def open_files(source: SourceTable, files: list[Path]) -> ds.Dataset:
    """The files as one dataset (read batch by batch, never whole): columns matched by name, plus ``dt``
    from the folder names when partitioned."""
    import pyarrow.dataset as ds

    root = source.files_root
    fmt = _file_format(source)
    try:
        schemas = [ds.dataset(str(f), format=fmt).schema for f in files]
        try:
            schema = pa.unify_schemas(schemas, promote_options="permissive")
        except pa.ArrowException as exc:
            raise _unreadable(source, exc, _disagreeing(root, files, schemas)) from exc
        partitioning = None
        if partitioned(root):
            if PARTITION in schema.names:
                schema = schema.remove(schema.get_field_index(PARTITION))
            part = pa.schema([(PARTITION, pa.date32())])
            partitioning = ds.partitioning(part, flavor="hive")
            schema = pa.unify_schemas([schema, part])
        return ds.dataset(
            [str(f) for f in files], schema=schema, format=fmt, partitioning=partitioning,
            partition_base_dir=str(root),
        )  # fmt: skip
    except (pa.ArrowException, OSError) as exc:
        raise _unreadable(source, exc) from exc


def _same_type(a: str, b: str, dialect: str) -> bool:
    """``int8`` and ``bigint`` alike: both spellings built into one sqlglot type."""
    from sqlglot import exp

    def canonical(t: str) -> str:
        return exp.DataType.build(t, dialect=dialect).sql(dialect=dialect).lower()

    return canonical(a) == canonical(b)


def stage(
    backend: Backend, source: SourceTable, progress: LoadProgress | None = None, files: list[Path] | None = None
) -> exp.Table:
    """The table holding ``source``'s files on ``backend``, loaded again first if the files changed.

    ``files``: ``source_files(source)`` when the caller listed them already.
    """
    from dataplan.backends.base import table

    schema, name = staged_name(source, backend.max_identifier_length, backend.files_schema)
    target = table(schema, name)
    files = source_files(source) if files is None else files
    if not files:
        path, line = source.where("path")
        raise InputError(
            f"source {source.name} has no {source.source.format} files under {source.files_root}",
            path=path,
            line=line,
            hint="check the source's path in sources.yml and that its data is there",
        )
    fp = fingerprint(source.files_root, files)
    if backend.staged_files.get(source.name) == fp:
        return target
    if backend.deferred_files is not None:  # a dry run: what would be loaded, and nothing loaded
        if backend.deferred_files.get(source.name) != fp and backend.table_note(target) != NOTE + fp:
            would = count_rows(source, files)
            backend.file_loads.append(FileLoad(source.name, f"{schema}.{name}", len(files), would, 0.0))
        backend.deferred_files[source.name] = fp
        return target
    note = backend.table_note(target)
    if note != NOTE + fp:
        t0 = time.perf_counter()
        data = open_files(source, files)
        loaded = _load_once(backend, source, target, data, NOTE + fp, new=note is None, progress=progress)
        if loaded is not None:
            load = FileLoad(source.name, f"{schema}.{name}", len(files), loaded, time.perf_counter() - t0)
            backend.file_loads.append(load)
    backend.staged_files[source.name] = fp
    return target


@contextmanager
def deferred(backend: Backend) -> Iterator[None]:
    """A dry run: file sources whose files changed are listed in ``backend.file_loads``, and not loaded
    (``seconds`` 0); models still read their tables by name."""
    backend.deferred_files = {}
    try:
        yield
    finally:
        backend.deferred_files = None


def refresh(
    backend: Backend,
    sources: list[SourceTable],
    progress: LoadProgress | None = None,
    needed: set[str] | None = None,
) -> list[FileLoad]:
    """Load every file source table whose files changed since its last load; what was loaded.

    Views built on a loaded table see its rows as they were at the last load, so the commands that
    stand for "the data as it is now" (build, run, test, plan) refresh every file source first, as
    DuckDB's reads of the files themselves would. A source with no files is an error (``stage``'s) only
    when it is ``needed`` (read by the models at hand; None: every source is), as on DuckDB only the
    models that read it fail.
    """
    if backend.reads_files:
        return []
    before = len(backend.file_loads)
    for source in sources:
        if not source.is_files:
            continue
        files = source_files(source)
        if files or needed is None or source.name in needed:
            stage(backend, source, progress, files)
    return backend.file_loads[before:]


def _load_once(
    backend: Backend,
    source: SourceTable,
    target: exp.Table,
    data: ds.Dataset,
    note: str,
    *,
    new: bool,
    progress: LoadProgress | None = None,
) -> int | None:
    """Load ``data`` into ``target``, the rows loaded; None when another process loaded the same files
    meanwhile.

    Two first loads at once (two commands started together): the second waits for the first's new schema
    or table, then fails on it. It looks again: the first may have loaded these very files, and if not,
    the table exists now, so a second try waits for the table's lock like any reload.
    """
    try:
        return _load(backend, source, target, data, note, progress)
    except EngineError:
        if not new or backend._in_transaction or not backend.table_columns(target):
            raise
        if backend.table_note(target) == note:
            return None
        return _load(backend, source, target, data, note, progress)


def _load(
    backend: Backend,
    source: SourceTable,
    target: exp.Table,
    data: ds.Dataset,
    note: str,
    progress: LoadProgress | None = None,
) -> int | None:
    """Empty ``target`` (or create it) and load ``data`` into it, in one transaction; the rows loaded, or
    None when another process loaded the same files while this one waited for the table's lock.

    Batch by batch: memory holds one batch of ``LOAD_BATCH_ROWS``, whatever the size of the files.
    """
    wanted = backend.arrow_columns(data.schema)
    with backend.transaction():
        backend.create_schema(target.db)
        have = {c.name: c.type for c in backend.table_columns(target)}
        if not have:
            backend.create_table(target, [(c.name, c.type) for c in wanted])
        else:
            # Serializes two processes loading the same files. Readers go on reading the last load until
            # this one commits (a DELETE, not a TRUNCATE, which would make them wait for the whole load).
            backend.lock_table(target)
            if backend.table_note(target) == note:  # the other process loaded these very files meanwhile
                return None
            retyped = [
                f"{c.name} ({have[c.name]} -> {c.type})"
                for c in wanted
                if c.name in have and not _same_type(have[c.name], c.type, backend.dialect)
            ]
            gone = [n for n in have if n not in {c.name for c in wanted}]
            if retyped or gone:
                what = "; ".join([*(f"type changed: {r}" for r in retyped), *(f"in no file now: {g}" for g in gone)])
                raise InputError(
                    f"source {source.name}: its files no longer match the table they were loaded into "
                    f"({backend.render(target)}): {what}",
                    hint="restore those columns and types in the files (re-export them, or cast in the export): "
                    "the environments' views read that table as it is, so do not drop it (that drops them "
                    "too, and dataplan would still take them for built)",
                )
            for c in wanted:
                if c.name not in have:
                    backend.add_column(target, c.name, c.type)
            backend.delete(target)
        what, rows = f"loading {source.name}", 0
        try:
            # Only for a progress bar: Parquet counts from the files' metadata, but CSV is parsed to count.
            total = data.count_rows() if progress is not None else 0
            for batch in data.to_batches(batch_size=LOAD_BATCH_ROWS):
                if progress is not None:
                    progress(what, rows, total)
                if batch.num_rows:
                    backend.append_arrow(target, pa.Table.from_batches([batch]))
                    rows += batch.num_rows
        except (pa.ArrowException, OSError) as exc:  # a file that breaks after its footer was read
            raise _unreadable(source, exc) from exc
        if progress is not None:
            progress(what, rows, rows)
        backend.set_table_note(target, note)
        backend.analyze(target)
    return rows
