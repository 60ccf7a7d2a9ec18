"""The web's dependencies, declared once as `Annotated` aliases (routes never reach into
`request.app.state` by hand).

```
State     the web process's resources (`web/state.AppState`): `Deps`, metrics, events, storage
Deps_     the same clients a worker has (settings, db, redis, provider, limiter, secret box...)
```
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from orchestrator.deps import Deps
from orchestrator.web.state import AppState


def app_state(request: Request) -> AppState:
    """The resources the lifespan opened."""
    state: AppState = request.app.state.orch
    return state


def app_deps(request: Request) -> Deps:
    """The process's clients."""
    return app_state(request).deps


State = Annotated[AppState, Depends(app_state)]
Deps_ = Annotated[Deps, Depends(app_deps)]
