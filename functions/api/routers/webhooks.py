"""`POST /webhooks/wandb`: a W&B artifact event, verified, then handed to `functions.webhook`.

Order matters: the bearer token and the HMAC signature of the raw body are checked before the
body is parsed or anything is stored, so a forged delivery leaves no trace but a 401.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request, status
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from evaljobs.errors import issues_from_pydantic
from evaljobs.policies import ArtifactEvent
from functions.api.deps import BearerDep, ServicesDep
from functions.api.errors import ErrorBody, Unprocessable, unprocessable
from functions.api.models import WebhookAccepted
from functions.auth import signature_valid
from functions.webhook import handle_artifact_event

__all__ = ["router"]

router = APIRouter(tags=["webhooks"])

_BODY = {
    "required": True,
    "content": {"application/json": {"schema": ArtifactEvent.model_json_schema()}},
}
"""The body is read raw (for its signature), so its schema is declared here."""


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
    except (RecursionError, ValueError) as exc:  # nested past the limit, a number of 4300+ digits
        raise unprocessable(
            [("", "the body is not a W&B event: too deeply nested or too large a number")]
        ) from exc
    if not isinstance(payload, dict):
        raise unprocessable([("", "the body must be a JSON object (the payload template in the README)")])
    try:
        event = ArtifactEvent.model_validate(payload)
    except ValidationError as exc:
        raise Unprocessable(issues_from_pydantic(exc)) from exc
    if event.entity_name != credential.entity:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"this webhook belongs to entity {credential.entity!r}, the event is from {event.entity_name!r}",
        )
    delivery = await run_in_threadpool(handle_artifact_event, services, event, payload)
    return WebhookAccepted.from_delivery(delivery)
