"""`create_app`: the routers, the error handlers and the web UI in one FastAPI app."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI

from evaljobs.settings import get_settings
from functions.api.errors import install_error_handlers
from functions.api.middleware import BodyLimit, SecurityHeaders
from functions.api.routers import health, jobs, policies, results, secrets, ui, webhooks
from functions.services import Services

__all__ = ["create_app"]


def _package_version() -> str:
    try:
        return version("evaljobs")
    except PackageNotFoundError:
        return "0"


def create_app(services: Services | None = None) -> FastAPI:
    """The app; without services it still serves its OpenAPI document (schema generation)."""
    app = FastAPI(
        title="evaljobs",
        version=_package_version(),
        description="Evaluate LLMs on standard benchmarks: jobs, triggers, leaderboards.",
        # Swagger UI and ReDoc load scripts from a CDN: not on the origin that holds the UI's token
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    install_error_handlers(app)
    max_bytes = services.settings.max_body_bytes if services else get_settings().max_body_bytes

    app.add_middleware(BodyLimit, max_bytes=max_bytes)
    app.add_middleware(SecurityHeaders)
    # the order is the OpenAPI document's order of paths (schemas/openapi.json)
    app.include_router(health.router)
    app.include_router(ui.router)
    ui.mount(app)
    app.include_router(jobs.router)
    app.include_router(results.router)
    app.include_router(policies.router)
    app.include_router(webhooks.router)
    app.include_router(secrets.router)
    return app
