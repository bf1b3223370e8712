"""What a token may see and act for: another entity's jobs and policies are 404 (their existence
is not leaked), acting for another entity is 403."""

from __future__ import annotations

from fastapi import HTTPException, status

from evaljobs.errors import JobNotFoundError
from evaljobs.policies import Policy
from evaljobs.records import JobRecord
from evaljobs.stores import ALL_ENTITIES, Principal
from functions.api.errors import unprocessable
from functions.services import Services

__all__ = ["policy_entity", "require_admin", "require_entity", "visible_job", "visible_policy"]


def require_entity(principal: Principal, entity: str) -> None:
    """403 unless the token may act for `entity`."""
    if not principal.can(entity):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"this token may not act for entity {entity!r}; use one of that entity's",
        )


def require_admin(principal: Principal, entity: str) -> None:
    """403 unless the token is an admin's of `entity` (or the operator's)."""
    require_entity(principal, entity)
    if not principal.administers(entity):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"this needs an admin token of {entity!r} (`evaljobs token create --entity {entity} --admin`)",
        )


def visible_job(services: Services, principal: Principal, job_id: str) -> JobRecord:
    """The job if this token may see it; 404 otherwise."""
    try:
        job = services.registry.get(job_id)
    except JobNotFoundError:
        job = None
    if job is None or not principal.can(job.entity):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id[:64]!r} visible to this token")
    return job


def policy_entity(principal: Principal, entity: str | None) -> str:
    """The entity a policy route is about: the one named, or the token's only entity."""
    if entity is not None:
        return entity
    if len(principal.entities) == 1 and ALL_ENTITIES not in principal.entities:
        return next(iter(principal.entities))
    raise unprocessable([("query/entity", "this token acts for several entities: name the policy's")])


def visible_policy(services: Services, principal: Principal, entity: str, name: str) -> Policy:
    """The entity's policy if this token may see it; 404 otherwise (also for another entity's)."""
    policy = services.triggers.policy(entity, name) if principal.can(entity) else None
    if policy is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no policy {name[:64]!r} visible to this token")
    return policy
