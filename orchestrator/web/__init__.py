"""The HTTP entry point: the `/v1` API (scoped bearer tokens), the provider's webhooks, the
dashboard (sessions, CSRF), health and metrics.

`app` builds the application; `deps` declares the dependencies routes take (`State`, `Deps_`);
`auth`, `sessions`, `csrf` guard the routes; `errors` and `problems` are the one place our
exceptions become HTTP answers; `body_limit` caps request bodies; routes live in `routes/`.
"""
