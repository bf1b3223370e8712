"""`/jobs`: submit, list, read, cancel and re-run jobs; a job's config.yaml, log and samples."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi.responses import PlainTextResponse

from evaljobs.records import JobStatus, Trigger
from evaljobs.samples import SamplePage
from evaljobs.stores import Principal
from functions.api.access import require_entity, visible_job
from functions.api.deps import PrincipalDep, ServicesDep
from functions.api.errors import ERROR_RESPONSES
from functions.api.models import JobCreated, JobPublic
from functions.services import Services
from functions.submit import as_job_doc, rerun_doc, submit_job

__all__ = ["rerun", "router", "submit_as"]

router = APIRouter(prefix="/jobs", tags=["jobs"], responses=ERROR_RESPONSES)


def submit_as(services: Services, principal: Principal, doc: dict[str, Any], trigger: Trigger) -> JobCreated:
    """Validate and queue a job for an entity of the token."""
    doc = as_job_doc(doc)  # W&B's form may embed a whole job: its entity is the one that counts
    entity = str(doc.get("entity", "local"))
    require_entity(principal, entity)  # before validation: nothing about B leaks to A
    job = submit_job(
        doc,
        trigger=trigger,
        registry=services.registry,
        executor=services.executor,
        settings=services.settings,
        entity=entity,
    )
    return JobCreated.from_record(job)


def rerun(
    services: Services,
    principal: Principal,
    job_id: str,
    project: str | None = None,
    entity: str | None = None,
) -> JobCreated:
    """Queue a visible job again, in its own project or (importing its config) in another."""
    old = visible_job(services, principal, job_id)
    doc = rerun_doc(old.spec, project, entity)
    return submit_as(services, principal, doc, Trigger(kind="http", detail={"rerun_of": job_id}))


@router.post("", status_code=status.HTTP_201_CREATED)
def create_job(
    doc: dict[str, Any], services: ServicesDep, principal: PrincipalDep, response: Response
) -> JobCreated:
    """Validate a job (ours or W&B's config.yaml form, as JSON) and queue it."""
    created = submit_as(services, principal, doc, Trigger(kind="http", detail={"token": principal.name}))
    response.headers["Location"] = created.links["self"]
    return created


@router.get("")
def list_jobs(
    services: ServicesDep,
    principal: PrincipalDep,
    project: Annotated[str | None, Query(max_length=200)] = None,
    job_status: Annotated[JobStatus | None, Query(alias="status")] = None,
    trigger: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[JobPublic]:
    """Newest first, of the token's entities only."""
    found = services.registry.jobs(
        project=project, status=job_status, trigger=trigger, entities=principal.visible(), limit=limit
    )
    return [JobPublic.from_record(j) for j in found]


@router.get("/{job_id}")
def get_job(job_id: str, services: ServicesDep, principal: PrincipalDep) -> JobPublic:
    """One job: status, trigger, results with stderr, and where each shard is, when it fanned out."""
    job = visible_job(services, principal, job_id)
    return JobPublic.from_record(job, [services.registry.get(i) for i in job.runtime.shards])


@router.post("/{job_id}/cancel")
def cancel_job(job_id: str, services: ServicesDep, principal: PrincipalDep) -> JobPublic:
    """Cancel a queued or running job (its runner stops vLLM and inspect-ai)."""
    from runners.executor import cancel_job as cancel
    from runners.executor import finisher

    visible_job(services, principal, job_id)
    cancel(services.registry, job_id, finish_elsewhere=finisher(services.executor))
    return JobPublic.from_record(services.registry.get(job_id))


@router.post("/{job_id}/rerun", status_code=status.HTTP_201_CREATED)
def rerun_job(
    job_id: str,
    services: ServicesDep,
    principal: PrincipalDep,
    project: Annotated[
        str | None, Query(max_length=200, description="Run it in this project instead")
    ] = None,
    entity: Annotated[str | None, Query(max_length=200, description="…and/or for this entity")] = None,
) -> JobCreated:
    """Queue the same job again, in its own project or (importing its config) in another."""
    return rerun(services, principal, job_id, project, entity)


@router.get("/{job_id}/log", response_class=PlainTextResponse)
def job_log(job_id: str, services: ServicesDep, principal: PrincipalDep) -> PlainTextResponse:
    """The job's log (secret values are scrubbed as it is written)."""
    from evaljobs.stores.log_copies import job_log as find_log

    job = visible_job(services, principal, job_id)
    path = find_log(job, services.settings)
    if path is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"no log for {job_id[:64]} here (yet): a runner elsewhere copies it to S3 when the job ends",
        )
    return PlainTextResponse(path.read_text(errors="replace"))


@router.get("/{job_id}/samples")
def job_samples(
    job_id: str,
    benchmark: str,
    services: ServicesDep,
    principal: PrincipalDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> SamplePage:
    """A window of one benchmark's samples: input, output, target and score, from its eval log."""
    from evaljobs.samples import sample_page
    from evaljobs.stores.log_copies import readable

    job = readable(visible_job(services, principal, job_id), services.settings)
    result = next((r for r in job.results if r.benchmark == benchmark), None)
    if result is None:
        ran = ", ".join(r.benchmark for r in job.results) or "none yet"
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"{job_id} has no results for {benchmark[:64]!r} (has: {ran})"
        )
    if not result.log_path or not Path(result.log_path).exists():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"the eval log of {benchmark} is not on this server")
    return sample_page(result, offset, limit)


@router.get(
    "/{job_id}/config.yaml",
    response_class=Response,
    responses={200: {"content": {"application/yaml": {}}, "description": "W&B-compatible config.yaml"}},
)
def job_config(job_id: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    """The job as a W&B-compatible config.yaml (re-runnable)."""
    import yaml

    from evaljobs.wandb_config import to_wandb_config

    spec = visible_job(services, principal, job_id).spec
    text = yaml.safe_dump(to_wandb_config(spec), sort_keys=False)
    return Response(text, media_type="application/yaml")
