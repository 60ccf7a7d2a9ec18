"""mkdocs hook: every HTTP route with its scope, generated from the web app at build time.

The app is built as `orchestrator web` builds it (no process started, nothing connected: the
lifespan never runs). A page holding `<!-- http-routes -->` gets one table of the routes in the
OpenAPI description — method, path, the token scope it needs, summary and description — and one
of the routes kept out of it (the inbound personalization webhook, the dashboard's pages). The
site also gets the whole description as `openapi.json`, linked from that page.

Scopes are read from the route's dependencies: the dependency `web.auth.require_scope(*scopes)`
builds closes over `scopes`. The build fails when a `/v1` route shows none, so the table cannot
silently lose one.
"""

from __future__ import annotations

import inspect
import json
import posixpath
from collections.abc import Iterator
from typing import Any

from mkdocs.structure.files import File, Files

MARKER = "<!-- http-routes -->"
OPENAPI_FILE = "openapi.json"

_app: Any = None


def on_files(files: Files, config: Any, **_: Any) -> Files:
    """Add `openapi.json`, the app's whole OpenAPI description, to the site."""
    spec = json.dumps(_build_app().openapi(), indent=2, ensure_ascii=False)
    files.append(File.generated(config, OPENAPI_FILE, content=spec))
    return files


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    """Replace the marker with the route tables."""
    if MARKER in markdown:
        here = posixpath.dirname(page.file.src_uri) or "."
        markdown = markdown.replace(MARKER, routes_reference(posixpath.relpath(OPENAPI_FILE, here)))
    return markdown


def routes_reference(openapi_link: str = OPENAPI_FILE) -> str:
    """The two tables: routes in the OpenAPI description, then the others."""
    app = _build_app()
    spec = app.openapi()
    scopes = {
        (method, path): found
        for path, methods, found, _ in _routes(app.routes)
        for method in methods
    }
    rows = []
    unscoped = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            scope = scopes.get((method.upper(), path), set())
            if path.startswith("/v1/") and not scope:
                unscoped.append(f"{method.upper()} {path}")
            rows.append(
                [
                    f"`{method.upper()}`",
                    f"`{path}`",
                    _scope(scope),
                    _summary(operation),
                    operation.get("description", ""),
                ]
            )
    if unscoped:
        raise ValueError(f"http reference: no token scope found for {', '.join(unscoped)}")
    hidden = []
    for path, methods, found, doc in _routes(app.routes):
        if path in spec["paths"] or path in {app.docs_url, app.redoc_url, "/docs/oauth2-redirect"}:
            continue
        if path == app.openapi_url:
            doc = f"This OpenAPI description ([as built with this site]({openapi_link}))."
        for method in sorted(methods - {"HEAD"}):
            hidden.append([f"`{method}`", f"`{path}`", _scope(found), doc])
    return (
        _table(["method", "path", "token scope", "summary", "description"], rows)
        + "Outside the OpenAPI description:\n\n"
        + _table(["method", "path", "token scope", "what"], hidden)
    )


def _summary(operation: dict[str, Any]) -> str:
    """The operation's summary, unless it is only FastAPI's title of the function's name."""
    summary = str(operation.get("summary", ""))
    derived = summary.lower().replace(" ", "_")
    return "" if str(operation.get("operationId", "")).startswith(derived + "_") else summary


def _build_app() -> Any:
    global _app
    if _app is None:
        from orchestrator.settings import load_settings
        from orchestrator.web.app import create_app

        settings = load_settings(_env_file=None, env="dev")
        _app = create_app(settings, check_signing=False)
    return _app


def _routes(routes: list[Any]) -> Iterator[tuple[str, set[str], set[str], str]]:
    """(path, methods, scopes, first line of the endpoint's docstring) of every route.

    FastAPI may keep included routers as such (`original_router`); they are walked too.
    """
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes)
            continue
        path = getattr(route, "path", None)
        methods = getattr(route, "methods", None)
        if path is None or not methods:
            continue
        dependant = getattr(route, "dependant", None)
        found = _scopes(dependant) if dependant is not None else set()
        yield path, set(methods), found, _doc(getattr(route, "endpoint", None))


def _doc(endpoint: Any) -> str:
    """The first paragraph of the endpoint's docstring; for an ASGI object, its module's."""
    if endpoint is None:
        return ""
    if inspect.isfunction(endpoint) or inspect.ismethod(endpoint):
        doc = inspect.getdoc(endpoint)
    else:
        module = inspect.getmodule(type(endpoint))
        doc = inspect.getdoc(module) if module is not None else None
    return " ".join((doc or "").split("\n\n")[0].split())


def _scopes(dependant: Any) -> set[str]:
    found: set[str] = set()
    for dependency in dependant.dependencies:
        call = dependency.call
        if inspect.isfunction(call):
            scopes = inspect.getclosurevars(call).nonlocals.get("scopes")
            if isinstance(scopes, tuple):
                found |= set(scopes)
        found |= _scopes(dependency)
    return found


def _scope(scopes: set[str]) -> str:
    if not scopes:
        return "—"
    if scopes == {"crm"}:
        return "`crm`"
    return " or ".join(f"`{s}`" for s in sorted(scopes, reverse=True))


def _table(header: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return " ".join(text.split()).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n\n"
