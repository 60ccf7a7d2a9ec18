"""Benchmarks (`make bench`): each module measures one capability on real parts and prints
its figures next to the target; `python -m benchmarks [NAME ...]` runs them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One measured figure and its target."""

    name: str
    value: float
    unit: str
    target: str
    ok: bool

    def line(self) -> str:
        """The line the benchmark prints (and the closing notes quote)."""
        mark = "PASS" if self.ok else "FAIL"
        return f"[{mark}] {self.name}: {self.value:,.2f} {self.unit} (target {self.target})"
