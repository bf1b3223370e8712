"""`/secrets/{entity}`: an entity admin stores, lists (names only) and deletes its secrets.

No route returns a value: values go in and reach only the runner of one of the entity's jobs.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from evaljobs.errors import SecretError
from evaljobs.secrets import MAX_VALUE_BYTES, check_secret
from evaljobs.stores import open_secret_store
from functions.api.access import require_admin
from functions.api.deps import PrincipalDep, ServicesDep
from functions.api.errors import ERROR_RESPONSES, unprocessable

__all__ = ["router"]

router = APIRouter(prefix="/secrets", tags=["secrets"], responses=ERROR_RESPONSES)


class SecretValue(BaseModel):
    """A secret's value, on its way in."""

    value: str = Field(min_length=1, max_length=MAX_VALUE_BYTES)
    """The value; jobs of the entity reference it as `secret://NAME`."""


class SecretNames(BaseModel):
    """An entity's secret names."""

    entity: str
    names: list[str]


@router.get("/{entity}")
def list_secrets(entity: str, services: ServicesDep, principal: PrincipalDep) -> SecretNames:
    """The names of the entity's secrets (never values)."""
    require_admin(principal, entity)
    return SecretNames(entity=entity, names=open_secret_store(services.settings).secret_names(entity))


@router.put("/{entity}/{name}", status_code=status.HTTP_204_NO_CONTENT)
def put_secret(
    entity: str, name: str, secret: SecretValue, services: ServicesDep, principal: PrincipalDep
) -> None:
    """Store or replace a secret of the entity."""
    require_admin(principal, entity)
    try:
        check_secret(name, secret.value)
    except SecretError as exc:
        raise unprocessable([("path/name", str(exc))]) from exc
    open_secret_store(services.settings).put_secret(entity, name, secret.value)


@router.delete("/{entity}/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_secret(entity: str, name: str, services: ServicesDep, principal: PrincipalDep) -> None:
    """Remove a secret of the entity."""
    require_admin(principal, entity)
    if not open_secret_store(services.settings).delete_secret(entity, name):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{entity[:64]} has no secret {name[:64]!r}")
