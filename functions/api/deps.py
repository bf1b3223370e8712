"""What handlers receive: the app's services and the principal behind the bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from evaljobs.stores import Principal
from functions.services import Services

__all__ = ["BearerDep", "PrincipalDep", "ServicesDep", "get_principal", "get_services"]


def get_services(request: Request) -> Services:
    """The app's services."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(auto_error=False, description="An evaljobs API token (`evaljobs token create`).")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
"""The bearer token, if one was sent (an API token, or a W&B webhook's token)."""


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"})


def get_principal(services: ServicesDep, credentials: BearerDep) -> Principal:
    """The token's owner; 401 without a valid token."""
    if credentials is None:
        raise _unauthorized("send `Authorization: Bearer <token>`; create one with `evaljobs token create`")
    principal = services.triggers.principal(credentials.credentials)
    if principal is None:
        raise _unauthorized("unknown or revoked API token")
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]
