"""CSV records (lists of text cells) to contact rows, by the same rules as JSON rows.

Everything that depends only on the header — which column is which, the declared type of each
variable, whether a column's name is acceptable — is decided once per file, not once per row:
a large import spends its time on the rows' values alone.

A file speaks for its columns only: a known contact keeps every field and variable the file has
no column for, and a blank cell empties its column's field (CSV cannot tell an empty value from
a missing one, and a column present means the file speaks for that field).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from orchestrator.domain.text import shown, text_problem
from orchestrator.domain.variables import (
    AgentVariable,
    Primitive,
    check_name,
    coerce_text,
    is_secret,
    secret_safe,
)
from orchestrator.errors import CsvRefused, ValidationFailed
from orchestrator.intake.rows import (
    NO_SECRET_KEYS,
    REQUIRED_COLUMNS,
    RESERVED_COLUMNS,
    ContactRow,
    RowRules,
    check_identity,
)

REQUIRED_NO_DEFAULT = "required by the agent and has no default"
_NONE: frozenset[str] = frozenset()


@dataclass(frozen=True)
class _Column:
    index: int
    name: str
    #: None: the text is kept as it is (strings and undeclared variables)
    coerce: Callable[[str], Primitive] | None
    #: Why any non-empty cell of this column is refused (bad name, secret without a key)
    refused: str | None


def _coercer(declared: AgentVariable | None) -> Callable[[str], Primitive] | None:
    if declared is None or declared.type == "string":
        return None
    return lambda text: coerce_text(text, declared)


class TextRows:
    """Validates the records of one CSV file whose first record was `header`."""

    def __init__(self, header: Sequence[str], rules: RowRules) -> None:
        names = [h.strip() for h in header]
        if not any(names):
            raise CsvRefused("the file is empty or has no header row")
        missing = [c for c in REQUIRED_COLUMNS if c not in names]
        if missing:
            raise CsvRefused(f"missing required column(s): {', '.join(missing)}")
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise CsvRefused(f"duplicate column(s): {', '.join(duplicated)}")
        self.rules = rules
        self.width = len(names)
        self._at = {name: i for i, name in enumerate(names)}
        #: Each column's name as reported (text we cannot carry written as escapes).
        self._names = [shown(name) for name in names]
        self._columns: list[_Column] = []
        for i, name in enumerate(names):
            if name in RESERVED_COLUMNS:
                continue
            bad_text = text_problem(name)
            refused = f"the column name has {bad_text}" if bad_text else check_name(name)
            if refused is None and is_secret(name) and not rules.secrets_enabled:
                refused = NO_SECRET_KEYS
            self._columns.append(
                _Column(i, shown(name), _coercer(rules.agent.variables.get(name)), refused)
            )
        present = {c.name for c in self._columns if c.refused is None}
        required = [
            name
            for name, declared in rules.agent.variables.items()
            if declared.default is None and name not in rules.provided
        ]
        absent = [n for n in required if n not in present]
        if absent:
            raise CsvRefused(
                f"missing column(s) {', '.join(absent)}: the agent requires them and declares "
                "no default"
            )
        #: Declared variables every row must fill.
        self._required = required
        #: The contact fields and variables the file speaks for (a known contact keeps the rest).
        optional = {f for f in ("timezone", "persona") if f in names}
        self._given = frozenset({"phone_number", *optional})
        self._variables = frozenset(c.name for c in self._columns if c.refused is None)
        self._personas: dict[str, str | None] = {}
        #: Whether any row may carry a `secret__` variable (to be sealed before storing).
        self.has_secrets = any(is_secret(c.name) for c in self._columns)

    def _cell(self, cells: Sequence[str], name: str) -> str:
        index = self._at.get(name)
        return cells[index] if index is not None and index < len(cells) else ""

    def parse(self, cells: Sequence[str]) -> ContactRow:
        """Validate one record.

        Raises:
            ValidationFailed: every problem of the row, each naming its column.
        """
        if len(cells) > self.width:
            raise ValidationFailed([("(row)", "more cells than header columns")])
        # One search over the whole record: only a record that holds bad text is looked into.
        if text_problem("".join(cells)):
            raise ValidationFailed(self._text_problems(cells))
        problems: list[tuple[str, str]] = []
        external_id = self._cell(cells, "external_id").strip()
        timezone = self._cell(cells, "timezone").strip() or None
        persona = self._cell(cells, "persona").strip() or None
        phone = check_identity(
            external_id,
            self._cell(cells, "phone_number"),
            timezone,
            self.rules.default_region,
            problems,
        )
        if persona is not None:
            self._check_persona(persona, problems)
        values = self._values(cells, problems)
        if problems:
            raise ValidationFailed(problems)
        # Most rows fill every column: skip building an empty set for them.
        removes = self._variables - values.keys() if len(values) < len(self._variables) else _NONE
        return ContactRow(
            external_id,
            phone,
            timezone,
            persona,
            values,
            given=self._given,
            removes=removes,
        )

    def _text_problems(self, cells: Sequence[str]) -> list[tuple[str, str]]:
        """Each cell of the record holding text we cannot carry, named by its column."""
        problems: list[tuple[str, str]] = []
        for i, cell in enumerate(cells):
            reason = text_problem(cell)
            if reason:
                problems.append((self._names[i], reason))
        return problems

    def _check_persona(self, persona: str, problems: list[tuple[str, str]]) -> None:
        # Files repeat a few personas: check each once.
        if persona not in self._personas:
            self._personas[persona] = self.rules.persona_problem(persona)
        reason = self._personas[persona]
        if reason:
            problems.append(("persona", reason))

    def _values(
        self, cells: Sequence[str], problems: list[tuple[str, str]]
    ) -> dict[str, Primitive]:
        values: dict[str, Primitive] = {}
        count = len(cells)
        for column in self._columns:
            text = cells[column.index] if column.index < count else ""
            if not text:
                continue
            if column.refused is not None:
                problems.append((column.name, column.refused))
            elif column.coerce is None:
                values[column.name] = text
            else:
                try:
                    values[column.name] = column.coerce(text)
                except ValueError as exc:
                    problems.append((column.name, secret_safe(column.name, str(exc), text)))
        for name in self._required:
            if name not in values:
                problems.append((name, REQUIRED_NO_DEFAULT))
        return values

    def masked(self, cells: Sequence[str]) -> list[str]:
        """The record with `secret__` cells masked, for the rejects file."""
        secret = {c.index for c in self._columns if is_secret(c.name)}
        return [("***" if i in secret and cell else cell) for i, cell in enumerate(cells)]
