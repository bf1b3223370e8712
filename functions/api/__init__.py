"""The HTTP API (FastAPI): jobs, catalog, leaderboards, policies, deliveries, and the W&B webhook.

Handlers validate and dispatch; nothing here evaluates. Every route but `/health` and the
webhook needs a bearer token, and a token only sees and starts jobs of its entities.

    app.py      `create_app`: the routers, the error handlers and the web UI in one app
    deps.py     what handlers receive: the services and the calling principal
    access.py   what a token may see (others' jobs are 404) and act for (others' entities are 403)
    errors.py   error bodies; a 422 locates every problem by JSON pointer
    models.py   request and response bodies
    routers/    one module per area: health, ui, jobs, results, policies, webhooks
"""

from functions.api.app import create_app
from functions.api.models import JobCreated, JobPublic

__all__ = ["JobCreated", "JobPublic", "create_app"]
