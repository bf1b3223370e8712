"""Triggers: evaluation policies (webhook matchers and cron schedules) and the deliveries they got."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from evaljobs.policies import Policy
from evaljobs.stores import Delivery
from functions.api.access import require_admin, visible_policy
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


@router.get("/policies/{name}")
def get_policy(name: str, services: ServicesDep, principal: PrincipalDep) -> Policy:
    """One policy."""
    return visible_policy(services, principal, name)


@router.put("/policies/{name}")
def put_policy(name: str, policy: Policy, services: ServicesDep, principal: PrincipalDep) -> Policy:
    """Create or replace a policy; its job template is validated like a job."""
    if policy.name != name:
        raise unprocessable(
            [("/name", f"the body names {policy.name!r}, the path {name!r}; make them equal")]
        )
    require_admin(principal, policy.entity)
    existing = services.triggers.policy(name)
    if existing is not None and not principal.administers(existing.entity):
        # names are global: say it is taken, not whose it is
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"the policy name {name!r} is taken; choose another")
    _check_policy(policy, services)
    services.triggers.put_policy(policy, services.clock())
    return policy


@router.delete("/policies/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_policy(name: str, services: ServicesDep, principal: PrincipalDep) -> None:
    """Remove a policy (jobs it started stay); needs an admin token of its entity."""
    require_admin(principal, visible_policy(services, principal, name).entity)
    services.triggers.delete_policy(name)


@router.get("/deliveries")
def list_deliveries(
    services: ServicesDep, principal: PrincipalDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[Delivery]:
    """Events received (webhook deliveries, schedule ticks) and what each did, newest first."""
    return services.triggers.deliveries(principal.visible(), limit)
