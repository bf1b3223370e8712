"""Results: the benchmark catalog, leaderboards, projects and job comparisons."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from evaljobs.catalog import CatalogEntry
from evaljobs.leaderboard import LeaderboardRow
from functions.api.access import require_entity, visible_job
from functions.api.deps import PrincipalDep, ServicesDep
from functions.api.errors import ERROR_RESPONSES
from functions.api.models import Comparison, JobCreated, LeaderboardFormat, ProjectRef
from functions.api.routers.jobs import rerun

__all__ = ["router"]

router = APIRouter(tags=["results"], responses=ERROR_RESPONSES)


@router.get("/catalog")
def catalog(principal: PrincipalDep) -> list[CatalogEntry]:
    """The benchmark catalog, resolved against the installed inspect_evals."""
    from evaljobs.catalog import get_catalog

    return list(get_catalog().values())


@router.get(
    "/leaderboards/{entity}/{project}",
    response_model=list[LeaderboardRow],
    responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}},
)
def leaderboard(
    entity: str,
    project: str,
    services: ServicesDep,
    principal: PrincipalDep,
    format: LeaderboardFormat = LeaderboardFormat.json,
) -> list[LeaderboardRow] | Response:
    """One row per benchmark per job, with stderr and a 95% interval."""
    from evaljobs.leaderboard import leaderboard_rows, to_csv, to_jsonl

    require_entity(principal, entity)
    rows = leaderboard_rows(services.registry, project, entity)
    if format is LeaderboardFormat.csv:
        return Response(to_csv(rows), media_type="text/csv")
    if format is LeaderboardFormat.jsonl:
        return Response(to_jsonl(rows), media_type="application/x-ndjson")
    return rows


@router.get("/projects")
def list_projects(services: ServicesDep, principal: PrincipalDep) -> list[ProjectRef]:
    """Projects with jobs, of the token's entities."""
    return [ProjectRef(entity=e, project=p) for e, p in services.registry.projects() if principal.can(e)]


@router.post("/projects/{entity}/{project}/rerun-last", status_code=status.HTTP_201_CREATED)
def rerun_last(entity: str, project: str, services: ServicesDep, principal: PrincipalDep) -> JobCreated:
    """Queue the project's most recent job again."""
    require_entity(principal, entity)
    last = services.registry.jobs(project=project, entities=[entity], limit=1)
    if not last:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"project {entity}/{project} has no jobs")
    return rerun(services, principal, last[0].id)


@router.get("/compare")
def compare(
    b: Annotated[str, Query(description="The candidate job")],
    services: ServicesDep,
    principal: PrincipalDep,
    a: Annotated[str | None, Query(description="The baseline job; absent: the project's baseline")] = None,
    threshold: Annotated[float, Query(ge=0, le=1)] = 0.01,
) -> Comparison:
    """Per benchmark: B − A over the samples both scored (paired), its 95% interval and a verdict."""
    from evaljobs.compare import compare_jobs, project_baseline
    from evaljobs.stores.log_copies import readable

    job_b = visible_job(services, principal, b)
    if a is None:
        base = project_baseline(job_b, services.registry)
        if base is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"{b} has no project baseline (no earlier succeeded job)"
            )
    else:
        base = visible_job(services, principal, a)
    settings = services.settings
    rows = compare_jobs(readable(base, settings), readable(job_b, settings), threshold)
    return Comparison(a=base.id, b=b, threshold=threshold, benchmarks=rows)
