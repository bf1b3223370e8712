"""The web UI: static pages under `/ui/` over this same API (its token is kept in the browser)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["UI_DIR", "mount", "router"]

UI_DIR = Path(__file__).parents[2] / "ui"
"""functions/ui: the pages and their script."""

router = APIRouter(include_in_schema=False)


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/ui/")


def mount(app: FastAPI) -> None:
    """Serve the pages at `/ui/` (a mount: routers cannot carry one)."""
    app.mount("/ui", StaticFiles(directory=UI_DIR, html=True), name="ui")
