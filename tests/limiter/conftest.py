"""Fixtures shared with the scheduling tests."""

from tests.scheduling.conftest import make_deps

__all__ = ["make_deps"]
