"""Fixtures of the web tests (the HTTP API's live in `api_support.py`)."""

from tests.web.api_support import api

__all__ = ["api"]
