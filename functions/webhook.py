"""`POST /webhooks/wandb`: W&B artifact events → policies → jobs. Accepts and dispatches only.

Order matters: the bearer token and the HMAC signature of the raw body are checked before the
body is parsed or anything is stored, so a forged delivery leaves no trace but a 401.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request, status
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from evaljobs.errors import EvalJobError
from evaljobs.policies import ArtifactEvent
from evaljobs.records import Trigger, utcnow
from evaljobs.stores import Delivery
from functions.auth import BearerDep, signature_valid
from functions.errors import ErrorBody, from_pydantic, unprocessable
from functions.services import Services, ServicesDep
from functions.submit import submit_job_once

__all__ = ["WebhookAccepted", "handle_artifact_event", "router"]

router = APIRouter(tags=["webhooks"])


class WebhookAccepted(BaseModel):
    """What a delivery did."""

    delivery: int
    """Sequence number of the recorded delivery (`GET /deliveries`)."""
    outcome: str
    """`started`, `duplicate` (this version already has its job), `unmatched` or `rejected`."""
    policies: list[str]
    """Policies that matched."""
    jobs: list[str]
    """Jobs started, or already started by an earlier delivery of the same version."""
    detail: str | None = None
    """Why a matched policy could not start its job."""


def handle_artifact_event(services: Services, event: ArtifactEvent, payload: dict[str, Any]) -> Delivery:
    """Start one job per matching policy (at most one per artifact version ever); record the delivery."""
    policies = [
        p
        for p in services.triggers.policies([event.entity_name])
        if p.enabled and p.match is not None and p.match.matches(event)
    ]
    jobs: list[str] = []
    problems: list[str] = []
    created_any = False
    for policy in policies:
        trigger = Trigger(kind="webhook", detail={"policy": policy.name, "event": payload})
        try:
            job, created = submit_job_once(
                policy.job_for_event(event),
                key=f"webhook:{policy.name}:{event.version_key}",
                trigger=trigger,
                registry=services.registry,
                executor=services.executor,
                settings=services.settings,
            )
        except EvalJobError as exc:
            problems.append(f"policy {policy.name}: {exc}")
            continue
        jobs.append(job.id)
        created_any |= created
    if not policies:
        outcome = "unmatched"
    elif created_any:
        outcome = "started"
    elif jobs:
        outcome = "duplicate"
    else:
        outcome = "rejected"
    return services.triggers.record_delivery(
        Delivery(
            id=0,
            received_at=utcnow(),
            source="webhook",
            entity=event.entity_name,
            payload=payload,
            outcome=outcome,
            policies=[p.name for p in policies],
            jobs=jobs,
            detail="\n".join(problems) or None,
        )
    )


_BODY = {
    "required": True,
    "content": {"application/json": {"schema": ArtifactEvent.model_json_schema()}},
}


@router.post(
    "/webhooks/wandb",
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra={"requestBody": _BODY},
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 422: {"model": ErrorBody}},
    summary="Receive a W&B artifact automation webhook",
)
async def wandb_webhook(
    request: Request,
    services: ServicesDep,
    credentials: BearerDep,
    x_wandb_signature: Annotated[str | None, Header()] = None,
) -> WebhookAccepted:
    """Verify (bearer token of the entity's webhook + HMAC-SHA256 of the raw body), parse, match
    policies, start jobs idempotently, and answer; the evaluation runs elsewhere."""
    body = await request.body()
    credential = (
        await run_in_threadpool(services.triggers.webhook_credential, credentials.credentials)
        if credentials
        else None
    )
    if credential is None or not signature_valid(credential.secret, body, x_wandb_signature):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "unknown webhook token or bad X-Wandb-Signature (HMAC-SHA256 of the raw body, base64 or hex)",
        )
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise unprocessable([("", f"the body is not JSON: {exc}")]) from exc
    if not isinstance(payload, dict):
        raise unprocessable([("", "the body must be a JSON object (the payload template in the README)")])
    try:
        event = ArtifactEvent.model_validate(payload)
    except ValidationError as exc:
        raise from_pydantic(exc) from exc
    if event.entity_name != credential.entity:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"this webhook belongs to entity {credential.entity!r}, the event is from {event.entity_name!r}",
        )
    delivery = await run_in_threadpool(handle_artifact_event, services, event, payload)
    return WebhookAccepted(
        delivery=delivery.id,
        outcome=delivery.outcome,
        policies=delivery.policies,
        jobs=delivery.jobs,
        detail=delivery.detail,
    )
