"""The per-project leaderboard: one row per benchmark per job, derived from the registry.

Rows keep the standard error (W&B's leaderboard drops it) and a 95% interval.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from evaljobs.records import JobRecord, JobStatus
from evaljobs.stores import JobRegistry

__all__ = ["LeaderboardRow", "Standing", "leaderboard_rows", "standings", "to_csv", "to_jsonl"]

Z95 = 1.959963984540054


class LeaderboardRow(BaseModel):
    """One benchmark of one job."""

    entity: str
    project: str
    job_id: str
    job_name: str | None
    model: str
    benchmark: str
    scoring: str
    metric: str | None
    value: float | None
    stderr: float | None
    ci95_low: float | None
    ci95_high: float | None
    samples: int
    limit: int | None
    status: str
    trigger: str
    finished_at: datetime | None
    input_tokens: int
    output_tokens: int
    wall_time_s: float | None
    model_server_s: float | None
    cost_usd: float | None
    metrics: dict[str, float]


def _rows_of(job: JobRecord) -> list[LeaderboardRow]:
    rows = []
    spec_limit = job.spec.limit
    for result in job.results:
        primary = result.primary()
        stderr = primary.stderr if primary else None
        value = primary.value if primary else None
        low = high = None
        if value is not None and stderr is not None:
            low, high = value - Z95 * stderr, value + Z95 * stderr
        rows.append(
            LeaderboardRow(
                entity=job.entity,
                project=job.project,
                job_id=job.id,
                job_name=job.name,
                model=job.model,
                benchmark=result.benchmark,
                scoring=result.scoring,
                metric=primary.name if primary else None,
                value=value,
                stderr=stderr,
                ci95_low=low,
                ci95_high=high,
                samples=result.samples_completed,
                limit=spec_limit,
                status=result.status,
                trigger=job.trigger.kind,
                finished_at=job.finished_at,
                input_tokens=result.input_tokens,
                output_tokens=result.output_tokens,
                wall_time_s=result.wall_time_s,
                model_server_s=result.model_server_s,
                cost_usd=result.cost_usd,
                metrics={m.name: m.value for m in result.metrics},
            )
        )
    return rows


def leaderboard_rows(
    registry: JobRegistry, project: str, entity: str | None = None, limit: int = 10_000
) -> list[LeaderboardRow]:
    """Rows of every finished job of the project that asked to be on the leaderboard."""
    rows: list[LeaderboardRow] = []
    # filtered by entity in the store: another entity's jobs in a project of the same name
    # must not fill the limit
    for job in registry.jobs(project=project, entities=[entity] if entity else None, limit=limit):
        if job.status not in (JobStatus.SUCCEEDED, JobStatus.FAILED):
            continue
        if not job.spec.leaderboard:
            continue
        rows.extend(_rows_of(job))
    rows.sort(key=lambda r: (r.benchmark, -(r.value if r.value is not None else float("-inf"))))
    return rows


class Standing(BaseModel):
    """One benchmark (scored one way, by one metric) and each model's latest result on it."""

    benchmark: str
    scoring: str
    metric: str | None
    by_model: dict[str, LeaderboardRow]


def standings(rows: list[LeaderboardRow]) -> tuple[list[str], list[Standing]]:
    """The models side by side: for each benchmark, scoring and metric, each model's row from
    its latest finished job with a value. Models sorted by name; rows
    of the same benchmark scored differently (log-likelihood vs generation) stay apart."""
    latest: dict[tuple[str, str, str | None], dict[str, LeaderboardRow]] = {}
    for row in rows:
        if row.value is None or row.status != "success":
            continue
        cell = latest.setdefault((row.benchmark, row.scoring, row.metric), {})
        seen = cell.get(row.model)
        when = row.finished_at or datetime.min
        if seen is None or when > (seen.finished_at or datetime.min):
            cell[row.model] = row
    models = sorted({model for cell in latest.values() for model in cell})
    table = [
        Standing(benchmark=b, scoring=sc, metric=m, by_model=cell)
        for (b, sc, m), cell in sorted(latest.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or ""))
    ]
    return models, table


def _flat(row: LeaderboardRow) -> dict[str, Any]:
    data = row.model_dump(mode="json", exclude={"metrics"})
    data["metrics"] = json.dumps(row.metrics, sort_keys=True)
    return data


def to_jsonl(rows: list[LeaderboardRow]) -> str:
    """One JSON object a line."""
    return "".join(row.model_dump_json() + "\n" for row in rows)


def to_csv(rows: list[LeaderboardRow]) -> str:
    """CSV with a header; `metrics` is a JSON object in one column."""
    buffer = io.StringIO()
    fields = list(LeaderboardRow.model_fields)
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(_flat(row))
    return buffer.getvalue()
