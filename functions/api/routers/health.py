"""`/health`: liveness, without a token."""

from __future__ import annotations

from fastapi import APIRouter, Request

from functions.api.models import Health

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request) -> Health:
    """Liveness: 200 while the process serves (no token needed)."""
    return Health(status="ok", version=request.app.version)
