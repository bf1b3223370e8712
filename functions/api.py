"""The HTTP API (FastAPI): jobs, catalog, leaderboards, policies, deliveries, and the W&B webhook.

Handlers validate and dispatch; nothing here evaluates. Every route but `/health` and the
webhook needs a bearer token, and a token only sees and starts jobs of its entities.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Response, status
from fastapi.responses import PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from evaljobs.errors import JobNotFoundError
from evaljobs.policies import Policy
from evaljobs.records import BenchmarkComparison, JobRecord, JobStatus, Trigger
from evaljobs.samples import SamplePage
from evaljobs.stores import Delivery, Principal
from functions.auth import PrincipalDep
from functions.errors import ErrorBody, Unprocessable, install_error_handlers, unprocessable
from functions.services import Services, ServicesDep
from functions.submit import rerun_doc, submit_job
from functions.webhook import router as webhook_router

__all__ = ["JobCreated", "JobPublic", "create_app"]

API_VERSION = "1"
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No or unknown API token"},
    403: {"model": ErrorBody, "description": "The token's entities do not include this one"},
    404: {"model": ErrorBody, "description": "Not found (or not visible to this token)"},
    422: {"model": ErrorBody, "description": "Invalid; every problem with its JSON pointer"},
}


class JobPublic(JobRecord):
    """A job, with links to act on it."""

    links: dict[str, str] = Field(default_factory=dict)
    """self, config, cancel, rerun, leaderboard."""


class JobCreated(BaseModel):
    """A job accepted and queued."""

    id: str
    """Job id."""
    status: JobStatus
    """`queued` (the job runs elsewhere)."""
    links: dict[str, str]
    """Where to follow it."""


class LeaderboardFormat(StrEnum):
    """Leaderboard encodings."""

    json = "json"
    jsonl = "jsonl"
    csv = "csv"


class ProjectRef(BaseModel):
    """A project with jobs."""

    entity: str
    project: str


class Comparison(BaseModel):
    """B relative to A."""

    a: str
    """The baseline job."""
    b: str
    """The candidate job."""
    threshold: float
    """Smallest difference that counts as a change."""
    benchmarks: list[BenchmarkComparison]
    """Per benchmark: shared samples, A, B, B − A, its stderr and 95% interval, verdict."""


class Health(BaseModel):
    """Liveness."""

    status: str
    version: str


def _links(job: JobRecord) -> dict[str, str]:
    base = f"/jobs/{job.id}"
    return {
        "self": base,
        "config": f"{base}/config.yaml",
        "cancel": f"{base}/cancel",
        "rerun": f"{base}/rerun",
        "leaderboard": f"/leaderboards/{job.entity}/{job.project}",
    }


def _public(job: JobRecord) -> JobPublic:
    return JobPublic(**job.model_dump(), links=_links(job))


def _visible_job(services: Services, principal: Principal, job_id: str) -> JobRecord:
    """The job if this token may see it; 404 otherwise (existence is not leaked)."""
    try:
        job = services.registry.get(job_id)
    except JobNotFoundError:
        job = None
    if job is None or not principal.can(job.entity):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id!r} visible to this token")
    return job


def _allowed(principal: Principal, entity: str) -> None:
    if not principal.can(entity):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"this token may not act for entity {entity!r}; use one of that entity's",
        )


def _submit(services: Services, principal: Principal, doc: dict[str, Any], trigger: Trigger) -> JobCreated:
    _allowed(principal, str(doc.get("entity", "local")))  # before validation: nothing about B leaks to A
    job = submit_job(
        doc,
        trigger=trigger,
        registry=services.registry,
        executor=services.executor,
        settings=services.settings,
    )
    return JobCreated(id=job.id, status=job.status, links=_links(job))


jobs = APIRouter(prefix="/jobs", tags=["jobs"], responses=_ERRORS)


@jobs.post("", status_code=status.HTTP_201_CREATED)
def create_job(
    doc: dict[str, Any], services: ServicesDep, principal: PrincipalDep, response: Response
) -> JobCreated:
    """Validate a job (ours or W&B's config.yaml form, as JSON) and queue it."""
    created = _submit(services, principal, doc, Trigger(kind="http", detail={"token": principal.name}))
    response.headers["Location"] = created.links["self"]
    return created


@jobs.get("")
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
    return [_public(j) for j in found]


@jobs.get("/{job_id}")
def get_job(job_id: str, services: ServicesDep, principal: PrincipalDep) -> JobPublic:
    """One job: status, trigger, results with stderr."""
    return _public(_visible_job(services, principal, job_id))


@jobs.post("/{job_id}/cancel")
def cancel_job(job_id: str, services: ServicesDep, principal: PrincipalDep) -> JobPublic:
    """Cancel a queued or running job (its runner stops vLLM and inspect-ai)."""
    from runners.executor import cancel_job as cancel

    _visible_job(services, principal, job_id)
    cancel(services.registry, job_id)
    return _public(services.registry.get(job_id))


@jobs.post("/{job_id}/rerun", status_code=status.HTTP_201_CREATED)
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
    old = _visible_job(services, principal, job_id)
    doc = rerun_doc(old.spec, project, entity)
    return _submit(services, principal, doc, Trigger(kind="http", detail={"rerun_of": job_id}))


@jobs.get("/{job_id}/log", response_class=PlainTextResponse)
def job_log(job_id: str, services: ServicesDep, principal: PrincipalDep) -> PlainTextResponse:
    """The job's log (secret values are scrubbed as it is written)."""
    job = _visible_job(services, principal, job_id)
    path = Path(job.runtime.job_dir or services.settings.jobs_dir / job.id) / "job.log"
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no log for {job_id} on this server (yet)")
    return PlainTextResponse(path.read_text(errors="replace"))


@jobs.get("/{job_id}/samples")
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

    job = _visible_job(services, principal, job_id)
    result = next((r for r in job.results if r.benchmark == benchmark), None)
    if result is None:
        ran = ", ".join(r.benchmark for r in job.results) or "none yet"
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"{job_id} has no results for {benchmark!r} (has: {ran})"
        )
    if not result.log_path or not Path(result.log_path).exists():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"the eval log of {benchmark} is not on this server")
    return sample_page(result, offset, limit)


@jobs.get(
    "/{job_id}/config.yaml",
    response_class=Response,
    responses={200: {"content": {"application/yaml": {}}, "description": "W&B-compatible config.yaml"}},
)
def job_config(job_id: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    """The job as a W&B-compatible config.yaml (re-runnable)."""
    import yaml

    from evaljobs.wandb_config import to_wandb_config

    spec = _visible_job(services, principal, job_id).spec
    text = yaml.safe_dump(to_wandb_config(spec), sort_keys=False)
    return Response(text, media_type="application/yaml")


results = APIRouter(tags=["results"], responses=_ERRORS)


@results.get("/catalog")
def catalog(principal: PrincipalDep) -> list[dict[str, Any]]:
    """The benchmark catalog, resolved against the installed inspect_evals."""
    from evaljobs.catalog import get_catalog

    return [e.model_dump(mode="json") for e in get_catalog().values()]


@results.get(
    "/leaderboards/{entity}/{project}",
    responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}},
)
def leaderboard(
    entity: str,
    project: str,
    services: ServicesDep,
    principal: PrincipalDep,
    format: LeaderboardFormat = LeaderboardFormat.json,
) -> Response:
    """One row per benchmark per job, with stderr and a 95% interval."""
    from evaljobs.leaderboard import leaderboard_rows, to_csv, to_jsonl

    _allowed(principal, entity)
    rows = leaderboard_rows(services.registry, project, entity)
    if format is LeaderboardFormat.csv:
        return Response(to_csv(rows), media_type="text/csv")
    if format is LeaderboardFormat.jsonl:
        return Response(to_jsonl(rows), media_type="application/x-ndjson")
    body = "[" + ",".join(r.model_dump_json() for r in rows) + "]"
    return Response(body, media_type="application/json")


@results.get("/projects")
def list_projects(services: ServicesDep, principal: PrincipalDep) -> list[ProjectRef]:
    """Projects with jobs, of the token's entities."""
    return [ProjectRef(entity=e, project=p) for e, p in services.registry.projects() if principal.can(e)]


@results.post("/projects/{entity}/{project}/rerun-last", status_code=status.HTTP_201_CREATED)
def rerun_last(entity: str, project: str, services: ServicesDep, principal: PrincipalDep) -> JobCreated:
    """Queue the project's most recent job again."""
    _allowed(principal, entity)
    last = services.registry.jobs(project=project, entities=[entity], limit=1)
    if not last:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"project {entity}/{project} has no jobs")
    return rerun_job(last[0].id, services, principal)


@results.get("/compare")
def compare(
    b: Annotated[str, Query(description="The candidate job")],
    services: ServicesDep,
    principal: PrincipalDep,
    a: Annotated[str | None, Query(description="The baseline job; absent: the project's baseline")] = None,
    threshold: Annotated[float, Query(ge=0, le=1)] = 0.01,
) -> Comparison:
    """Per benchmark: B − A over the samples both scored (paired), its 95% interval and a verdict."""
    from evaljobs.compare import compare_jobs, project_baseline

    job_b = _visible_job(services, principal, b)
    if a is None:
        base = project_baseline(job_b, services.registry)
        if base is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"{b} has no project baseline (no earlier succeeded job)"
            )
    else:
        base = _visible_job(services, principal, a)
    rows = compare_jobs(base, job_b, threshold)
    return Comparison(a=base.id, b=b, threshold=threshold, benchmarks=rows)


triggers = APIRouter(tags=["triggers"], responses=_ERRORS)


@triggers.get("/policies")
def list_policies(services: ServicesDep, principal: PrincipalDep) -> list[Policy]:
    """Policies of the token's entities."""
    return services.triggers.policies(principal.visible())


@triggers.get("/policies/{name}")
def get_policy(name: str, services: ServicesDep, principal: PrincipalDep) -> Policy:
    """One policy."""
    policy = services.triggers.policy(name)
    if policy is None or not principal.can(policy.entity):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no policy {name!r} visible to this token")
    return policy


@triggers.put("/policies/{name}")
def put_policy(name: str, policy: Policy, services: ServicesDep, principal: PrincipalDep) -> Policy:
    """Create or replace a policy; its job template is validated like a job."""
    if policy.name != name:
        raise unprocessable(
            [("/name", f"the body names {policy.name!r}, the path {name!r}; make them equal")]
        )
    _allowed(principal, policy.entity)
    existing = services.triggers.policy(name)
    if existing is not None:
        _allowed(principal, existing.entity)
    check_policy(policy, services)
    services.triggers.put_policy(policy, services.clock())
    return policy


@triggers.delete("/policies/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_policy(name: str, services: ServicesDep, principal: PrincipalDep) -> None:
    """Remove a policy (jobs it started stay)."""
    get_policy(name, services, principal)
    services.triggers.delete_policy(name)


@triggers.get("/deliveries")
def list_deliveries(
    services: ServicesDep, principal: PrincipalDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[Delivery]:
    """Events received (webhook deliveries, schedule ticks) and what each did, newest first."""
    return services.triggers.deliveries(principal.visible(), limit)


def check_policy(policy: Policy, services: Services) -> None:
    """422 with pointers under /job when the policy's job template would not validate."""
    from functions.submit import policy_issues

    if issues := policy_issues(policy, services.settings):
        raise Unprocessable(issues)


def create_app(services: Services | None = None) -> FastAPI:
    """The app; without services it still serves its OpenAPI document (schema generation)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        app_version = version("evaljobs")
    except PackageNotFoundError:
        app_version = "0"
    app = FastAPI(
        title="evaljobs",
        version=app_version,
        description="Evaluate LLMs on standard benchmarks: jobs, triggers, leaderboards.",
    )
    app.state.services = services
    install_error_handlers(app)

    @app.get("/health", tags=["health"])
    def health() -> Health:
        """Liveness: 200 while the process serves (no token needed)."""
        return Health(status="ok", version=app_version)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/ui/")

    # the web UI: static pages over this same API (its token is kept in the browser)
    app.mount("/ui", StaticFiles(directory=Path(__file__).parent / "ui", html=True), name="ui")
    app.include_router(jobs)
    app.include_router(results)
    app.include_router(triggers)
    app.include_router(webhook_router)
    return app
