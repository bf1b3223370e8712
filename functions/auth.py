"""Who is calling: API bearer tokens (scoped to entities) and W&B webhook signatures."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from evaljobs.stores import Principal
from functions.services import ServicesDep

__all__ = ["BearerDep", "PrincipalDep", "signature_valid"]

_bearer = HTTPBearer(auto_error=False, description="An evaljobs API token (`evaljobs token create`).")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


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


def signature_valid(secret: str, body: bytes, signature: str | None) -> bool:
    """True when `signature` is HMAC-SHA256(secret, body), base64 or hex (an optional `sha256=`)."""
    if not signature:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    given = signature.strip().removeprefix("sha256=")
    candidates = []
    with contextlib.suppress(ValueError):
        candidates.append(bytes.fromhex(given))
    with contextlib.suppress(binascii.Error, ValueError):
        candidates.append(base64.b64decode(given, validate=True))
    return any(hmac.compare_digest(expected, c) for c in candidates)
