"""Outcomes' data-collection and evaluation values, one row per (outcome, item), for reports.

Reports aggregate every data-collection item and evaluation criterion over up to millions of
calls. Parsing each outcome's JSON at report time costs about a second per million items on
SQLite, so the database keeps them flattened itself: triggers on `outcome` rewrite an outcome's
rows whenever its `data_collection` or `evaluation` changes, whoever writes it. Category values
(strings, booleans, arrays and objects as JSON text) land in `text_value`, numbers in
`num_value`; JSON nulls (not collected) are left out.

The triggers are created with this table (alembic dispatches `after_create` for the tables of a
migration, as `create_all` does). A later SQLite batch migration that rebuilds `outcome` drops
them: such a migration must call `create_triggers` again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Index, Table, event
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel

KIND_DATA = "data"
KIND_EVAL = "eval"
TABLE = "outcomevalue"


class OutcomeValue(SQLModel, table=True):
    """One data-collection item or evaluation criterion of one outcome (kept by triggers)."""

    __table_args__ = (
        # Covers the grouped counts and (text_value IS NULL, ordered by num_value) percentiles.
        Index("ix_outcomevalue_report", "campaign_id", "kind", "key", "text_value", "num_value"),
        # The same for reports over a date range (attempts dialled in it).
        Index("ix_outcomevalue_attempt", "attempt_id", "kind", "key", "text_value", "num_value"),
    )

    id: int | None = Field(default=None, primary_key=True)
    outcome_id: int = Field(index=True)
    attempt_id: int
    campaign_id: int
    kind: str = Field(max_length=8)
    key: str
    text_value: str | None = None
    num_value: float | None = None


def _sqlite_select(kind: str, column: str) -> str:
    return f"""
    SELECT NEW.id, NEW.attempt_id, NEW.campaign_id, '{kind}', j.key,
           CASE j.type WHEN 'integer' THEN NULL WHEN 'real' THEN NULL
                       WHEN 'true' THEN 'true' WHEN 'false' THEN 'false'
                       WHEN 'text' THEN j.atom ELSE j.value END,
           CASE WHEN j.type IN ('integer', 'real') THEN j.atom END
    FROM json_each(NEW.{column}) AS j WHERE j.type != 'null'"""  # noqa: S608 (static SQL)


_INSERT = (
    "INSERT INTO outcomevalue"
    " (outcome_id, attempt_id, campaign_id, kind, key, text_value, num_value)"
)

_SQLITE = [
    f"""CREATE TRIGGER outcomevalue_ai AFTER INSERT ON outcome BEGIN
    {_INSERT} {_sqlite_select(KIND_DATA, "data_collection")}
    UNION ALL {_sqlite_select(KIND_EVAL, "evaluation")};
    END""",
    f"""CREATE TRIGGER outcomevalue_au AFTER UPDATE OF data_collection, evaluation ON outcome
    BEGIN
    DELETE FROM outcomevalue WHERE outcome_id = OLD.id;
    {_INSERT} {_sqlite_select(KIND_DATA, "data_collection")}
    UNION ALL {_sqlite_select(KIND_EVAL, "evaluation")};
    END""",  # noqa: S608 (static SQL)
    """CREATE TRIGGER outcomevalue_ad AFTER DELETE ON outcome BEGIN
    DELETE FROM outcomevalue WHERE outcome_id = OLD.id;
    END""",
]


def _pg_select(kind: str, column: str) -> str:
    return f"""
    SELECT NEW.id, NEW.attempt_id, NEW.campaign_id, '{kind}', e.key,
           CASE json_typeof(e.value) WHEN 'number' THEN NULL
                WHEN 'string' THEN e.value #>> '{{}}' ELSE e.value::text END,
           CASE WHEN json_typeof(e.value) = 'number' THEN (e.value::text)::double precision END
    FROM json_each(NEW.{column}::json) AS e WHERE json_typeof(e.value) <> 'null'"""  # noqa: S608 (static SQL)


_POSTGRES = [
    f"""CREATE FUNCTION outcomevalue_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP <> 'INSERT' THEN DELETE FROM outcomevalue WHERE outcome_id = OLD.id; END IF;
      IF TG_OP <> 'DELETE' THEN
        {_INSERT} {_pg_select(KIND_DATA, "data_collection")}
        UNION ALL {_pg_select(KIND_EVAL, "evaluation")};
      END IF;
      RETURN NULL;
    END $$""",  # noqa: S608 (static SQL)
    """CREATE TRIGGER outcomevalue_sync AFTER INSERT OR DELETE OR UPDATE OF data_collection,
    evaluation ON outcome FOR EACH ROW EXECUTE FUNCTION outcomevalue_sync()""",
]


def create_triggers(connection: Connection) -> None:
    """Create the triggers that keep `outcomevalue` in step with `outcome`."""
    statements = _POSTGRES if connection.dialect.name == "postgresql" else _SQLITE
    for statement in statements:
        connection.exec_driver_sql(statement)


@event.listens_for(Table, "after_create")
def _after_create(target: Table, connection: Connection, **_kw: Any) -> None:
    # Every Table: alembic's `op.create_table` builds its own. The bodies name `outcomevalue`,
    # which SQLite and Postgres resolve when a trigger fires, so it may be created after.
    if target.name == "outcome":
        create_triggers(connection)
