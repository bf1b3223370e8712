"""W&B artifact events → policies → jobs: what a verified webhook delivery does.

The route (`POST /webhooks/wandb`, in `functions.api.routers.webhooks`) verifies the delivery
and parses the event; this module matches it against the entity's policies, starts at most one
job per policy and artifact version, and records the delivery. It accepts and dispatches only.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from evaljobs.errors import EvalJobError
from evaljobs.policies import ArtifactEvent
from evaljobs.records import Trigger, utcnow
from evaljobs.stores import Delivery
from functions.services import Services
from functions.submit import submit_job_once

__all__ = ["event_key", "handle_artifact_event"]


def handle_artifact_event(services: Services, event: ArtifactEvent, payload: dict[str, Any]) -> Delivery:
    """Start one job per matching policy (at most one per artifact version ever); record the delivery
    (a replay of an event already received is counted on that one, not stored again)."""
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
                key=f"webhook:{policy.entity}:{policy.name}:{event.version_key}",
                trigger=trigger,
                registry=services.registry,
                executor=services.executor,
                settings=services.settings,
                entity=policy.entity,  # the template's converted job must stay the policy's entity's
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
    delivery = Delivery(
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
    delivery = delivery.model_copy(update={"key": event_key(delivery)})
    recorded = services.triggers.record_delivery(delivery)
    # a replay is counted on the first delivery; the answer still says what this one did
    return delivery.model_copy(update={"id": recorded.id, "repeats": recorded.repeats})


def event_key(delivery: Delivery) -> str:
    """What makes a delivery a repeat: the same event (its entity and payload, key order aside)
    with the same effect (the policies it matched, the jobs it led to, why it was refused). So a
    replay that finally starts its job (a policy added or fixed since) is recorded anew."""
    seen = [delivery.payload, delivery.policies, delivery.jobs, delivery.detail]
    digest = hashlib.sha256(json.dumps(seen, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return f"webhook:{delivery.entity}:{digest}"
