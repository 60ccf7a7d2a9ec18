"""Bulk inserts that cost the database's time, not the statement machinery's.

SQLAlchemy's executemany builds every row's parameters through its general compiler path
(`construct_params`), which for a 100,000-row import costs more than SQLite's own work. Here the
INSERT is compiled once, each column's bind processor (the same one SQLAlchemy would apply:
JSON serialization, the UTC datetime conversion...) is looked up once, Python-side column
defaults are evaluated once per batch, and the rows go to the driver's `executemany` as plain
tuples (or dicts, for drivers with named parameters).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Select,
    String,
    Table,
    bindparam,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

Processor = Callable[[Any], Any] | None


def _default(column: Column[Any]) -> Any:
    """The value a row without this column gets (once per batch; NOT NULL needs a default)."""
    default = column.default
    if default is None:
        if not column.nullable and not column.primary_key:
            raise ValueError(f"{column.table.name}.{column.name} is NOT NULL and has no default")
        return None
    if getattr(default, "is_scalar", False):
        return getattr(default, "arg", None)
    if getattr(default, "is_callable", False):
        # SQLAlchemy wraps a callable default into one taking the execution context.
        return default.arg(None)  # type: ignore[attr-defined]
    raise ValueError(f"{column.table.name}.{column.name} has a SQL default; give a value")


def bind_processor(column: Column[Any], dialect: Dialect) -> Processor:
    """What SQLAlchemy does to a value of `column` before the driver gets it (None: nothing)."""
    return column.type.dialect_impl(dialect).bind_processor(dialect)


def _processors(table: Table, names: Sequence[str], dialect: Dialect) -> list[Processor]:
    """The bind processor SQLAlchemy applies to each column's values on this dialect."""
    return [bind_processor(table.c[name], dialect) for name in names]


def _processed(processor: Processor, value: Any) -> Any:
    return processor(value) if processor is not None else value


def among(
    column: ColumnElement[Any], values: Sequence[Any], dialect: Dialect
) -> ColumnElement[bool]:
    """`column IN values`, cheap to build for thousands of values.

    SQLAlchemy renders an expanding IN as one bound parameter per value, in Python, per query;
    on SQLite the values travel as one JSON array unpacked by `json_each` instead.
    """
    if dialect.name == "sqlite":
        unpacked: Select[Any] = select(literal_column("value")).select_from(
            func.json_each(bindparam("among", json.dumps(list(values)), type_=String))
        )
        return column.in_(unpacked.scalar_subquery())
    return column.in_(list(values))


async def insert_many(
    conn: AsyncConnection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    shared: Mapping[str, Any] | None = None,
    *,
    raw: Collection[str] = (),
) -> None:
    """INSERT `rows` (values of `columns`, in that order), with `shared` values for all rows.

    Columns in neither get their Python-side default (evaluated once for the batch). Values of
    the columns in `raw` are already in the driver's form (e.g. JSON text) and pass as they are.
    """
    if not rows:
        return
    shared = dict(shared or {})
    missing = [
        c.name
        for c in table.columns
        if c.name not in columns and c.name not in shared and not c.primary_key
    ]
    fixed = {**{name: _default(table.c[name]) for name in missing}, **shared}
    names = [*columns, *fixed]
    dialect = conn.dialect
    compiled = insert(table).compile(dialect=dialect, column_keys=names)
    processors = _processors(table, names, dialect)
    # Values shared by every row are processed once; a row's own values by their processor
    # (JSON, datetimes...) when their type has one.
    tail = tuple(_processed(processors[len(columns) + i], v) for i, v in enumerate(fixed.values()))
    own = [
        (i, proc)
        for i, proc in enumerate(processors[: len(columns)])
        if proc is not None and columns[i] not in raw
    ]
    order = list(compiled.positiontup or ()) if compiled.positional else names
    pick = itemgetter(*(names.index(name) for name in order))
    params: list[Any] = []
    for row in rows:
        values = list(row)
        for i, proc in own:
            values[i] = proc(values[i])
        params.append(pick((*values, *tail)))
    if not compiled.positional:
        params = [dict(zip(order, p, strict=True)) for p in params]
    await conn.exec_driver_sql(str(compiled), params)
