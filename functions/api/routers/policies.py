"""Triggers: evaluation policies (webhook matchers and cron schedules) and the deliveries they got."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from evaljobs.policies import Policy
from evaljobs.stores import Delivery
from functions.api.access import policy_entity, require_admin, visible_policy
from functions.api.deps import PrincipalDep, ServicesDep
from functions.api.errors import ERROR_RESPONSES, Unprocessable, unprocessable
from functions.services import Services
from functions.submit import policy_issues

__all__ = ["router"]

router = APIRouter(tags=["triggers"], responses=ERROR_RESPONSES)


def _check_policy(policy: Policy, services: Services) -> None:
    """422 with pointers under /job when the policy's job template would not validate."""
    if issues := policy_issues(policy, services.settings):
        raise Unprocessable(issues)


@router.get("/policies")
def list_policies(services: ServicesDep, principal: PrincipalDep) -> list[Policy]:
    """Policies of the token's entities."""
    return services.triggers.policies(principal.visible())


EntityParam = Annotated[
    str | None, Query(description="The policy's entity; needed when the token acts for several")
]


@router.get("/policies/{name}")
def get_policy(
    name: str, services: ServicesDep, principal: PrincipalDep, entity: EntityParam = None
) -> Policy:
    """One policy of an entity (names are per entity)."""
    return visible_policy(services, principal, policy_entity(principal, entity), name)


@router.put("/policies/{name}")
def put_policy(name: str, policy: Policy, services: ServicesDep, principal: PrincipalDep) -> Policy:
    """Create or replace a policy; its job template is validated like a job."""
    if policy.name != name:
        raise unprocessable(
            [("/name", f"the body names {policy.name!r}, the path {name!r}; make them equal")]
        )
    require_admin(principal, policy.entity)
    _check_policy(policy, services)
    services.triggers.put_policy(policy, services.clock())
    return policy


@router.delete("/policies/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_policy(
    name: str, services: ServicesDep, principal: PrincipalDep, entity: EntityParam = None
) -> None:
    """Remove an entity's policy (jobs it started stay); needs an admin token of the entity."""
    policy = visible_policy(services, principal, policy_entity(principal, entity), name)
    require_admin(principal, policy.entity)
    services.triggers.delete_policy(policy.entity, name)


@router.get("/deliveries")
def list_deliveries(
    services: ServicesDep, principal: PrincipalDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[Delivery]:
    """Events received (webhook deliveries, schedule ticks) and what each did, newest first."""
    return services.triggers.deliveries(principal.visible(), limit)
