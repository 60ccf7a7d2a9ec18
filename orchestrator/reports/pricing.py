"""Dollar prices of provider usage by plan, from `config/pricing.toml` (`pricing_file`).

A conversation's own `cost_fiat` wins; calls without one are priced from their credits
(`usd_per_credit`) or their minutes (`usd_per_minute`, burst minutes at 2×).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import PricingError


@dataclass(frozen=True)
class Price:
    """How one plan is billed in dollars; exactly one of the two rates is set."""

    plan: str
    usd_per_credit: float | None = None
    usd_per_minute: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "plan": self.plan,
            "usd_per_credit": self.usd_per_credit,
            "usd_per_minute": self.usd_per_minute,
        }


def _rate(path: Path, plan: str, table: dict[str, Any]) -> Price:
    rates = {k: table[k] for k in ("usd_per_credit", "usd_per_minute") if k in table}
    unknown = sorted(set(table) - {"usd_per_credit", "usd_per_minute"})
    where = f"{path}: [plans.{plan}]"
    if unknown:
        raise PricingError(f"{where}: unknown key(s) {', '.join(unknown)}")
    if len(rates) != 1:
        raise PricingError(f"{where}: give exactly one of usd_per_credit, usd_per_minute")
    ((key, value),) = rates.items()
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise PricingError(f"{where}: {key} must be a number ≥ 0, got {value!r}")
    return Price(plan, **{key: float(value)})


def load_price(path: Path, plan: str) -> Price | None:
    """The price of `plan` from the file at `path`; None when the file does not exist.

    Raises:
        PricingError: the file is not valid TOML, is malformed, or does not list `plan`.
    """
    if not path.is_file():
        return None
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PricingError(f"{path}: {exc}") from None
    plans = data.get("plans")
    if not isinstance(plans, dict):
        raise PricingError(f"{path}: expected [plans.<name>] tables")
    key = plan.lower()
    table = plans.get(key)
    if not isinstance(table, dict):
        raise PricingError(
            f"{path}: no [plans.{key}] (the configured plan); has: {', '.join(sorted(plans))}"
        )
    return _rate(path, key, table)


def dollars(
    price: Price | None, *, fiat: float, credits_unpriced: float, burst_minutes_unpriced: float
) -> float | None:
    """Dollars: the provider's own figures plus the priced rest (None when nothing is known).

    Args:
        price: the plan's price, None when unknown.
        fiat: sum of `cost_fiat` where the provider gave it.
        credits_unpriced: credits of calls without `cost_fiat`.
        burst_minutes_unpriced: minutes of calls without `cost_fiat`, burst minutes doubled.
    """
    if price is None:
        return fiat if fiat else None
    if price.usd_per_credit is not None:
        return fiat + credits_unpriced * price.usd_per_credit
    assert price.usd_per_minute is not None
    return fiat + burst_minutes_unpriced * price.usd_per_minute
