"""Each benchmark of a job as a Weave evaluation, and the project's Weave leaderboard.

- **One Weave session per job, and nothing left behind.** The sink runs in the runner process,
  which on Modal is a warm container running many tenants' jobs one after another. `weave.init`
  patches LLM clients (openai, …) process-wide by default, so the next job's model requests
  would be traced into this job's project. The sink only logs finished results: it starts
  Weave with implicit patching off and ends the client with `weave.finish()` whatever happens.
- **One Evaluation per question set.** An Evaluation's identity is what decides the questions
  (benchmark, scoring, task args, limit, few-shot draw); the model is what varies, and the job
  id is on the run (every call of the session carries `evaljobs_job_id`). So every job on a
  benchmark logs under the same Evaluation ref, and a leaderboard column compares models.
- **The leaderboard is merged without losing columns** when containers publish at once (see
  `publish_leaderboard`).

Weave has no offline mode: without a W&B key the sink records why it skipped; an unreachable
server is a sink failure (recorded on the job by the sinks' one error policy).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evaljobs.errors import EvalJobError
from evaljobs.records import BenchmarkResult, JobRecord, Runtime
from evaljobs.spec import BenchmarkRef
from runners.sinks.base import SinkContext

if TYPE_CHECKING:
    from weave import EvaluationLogger

__all__ = [
    "LEADERBOARD_ATTEMPTS",
    "LeaderboardConflict",
    "WeaveSink",
    "evaluation_identity",
    "leaderboard_columns",
    "merge_columns",
    "publish_leaderboard",
]

LEADERBOARD_ATTEMPTS = 5
"""Publish rounds before a leaderboard that others keep changing is given up (a sink failure)."""


class LeaderboardConflict(EvalJobError):
    """The project's leaderboard kept changing under this job; its columns are not on it yet."""


def evaluation_identity(job: JobRecord, result: BenchmarkResult) -> dict[str, Any]:
    """What makes two runs of a benchmark the same test: whatever decides its questions and how
    they are put and scored. Not the model, the job or the generation settings: those vary."""
    refs = [b for b in job.spec.benchmark_refs() if b.id == result.benchmark]
    ref = refs[0] if refs else BenchmarkRef(id=result.benchmark)
    identity: dict[str, Any] = {
        "benchmark": result.benchmark,
        "scoring": result.scoring,
        "args": ref.args,
        "limit": ref.limit or job.spec.limit,
    }
    if result.scoring == "loglikelihood":
        identity |= {"fewshot": ref.fewshot, "fewshot_seed": job.spec.fewshot_seed}
    return identity


def _evaluation_name(identity: dict[str, Any]) -> str:
    """`boolq-generate`, `boolq-generate-limit50`, plus a short digest when args or few-shot differ."""
    parts = [identity["benchmark"], identity["scoring"]]
    if identity["limit"]:
        parts.append(f"limit{identity['limit']}")
    named = ("benchmark", "scoring", "limit")
    rest = {k: v for k, v in identity.items() if k not in named and v not in (None, {})}
    if rest:
        parts.append(hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()[:8])
    return "-".join(str(p) for p in parts)


def _samples(result: BenchmarkResult) -> list[Any]:
    from inspect_ai.log import read_eval_log_samples

    if not result.log_path:
        return []
    return list(read_eval_log_samples(result.log_path, all_samples_required=False))


def leaderboard_columns(result: BenchmarkResult, evaluation_ref: str) -> list[dict[str, Any]]:
    """A Weave leaderboard column per metric of a benchmark (its logged summary: `metric.value`)."""
    return [
        {
            "evaluation_object_ref": evaluation_ref,
            "scorer_name": metric.name,
            "summary_metric_path": "value",
        }
        for metric in result.metrics
    ]


def _column_key(column: dict[str, Any]) -> tuple[str, str, str]:
    return column["evaluation_object_ref"], column["scorer_name"], column["summary_metric_path"]


def merge_columns(existing: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The leaderboard extended: existing columns first, a column already there not added twice."""
    seen = {_column_key(c) for c in existing}
    merged = list(existing)
    for column in new:
        if _column_key(column) not in seen:
            seen.add(_column_key(column))
            merged.append(column)
    return merged


def _column_dict(column: Any) -> dict[str, Any]:
    keys = ("evaluation_object_ref", "scorer_name", "summary_metric_path", "should_minimize")
    if isinstance(column, dict):
        return {k: column.get(k) for k in keys}
    return {k: getattr(column, k, None) for k in keys}


@dataclass(frozen=True)
class _Version:
    """One stored version of the leaderboard object."""

    index: int
    digest: str
    columns: list[dict[str, Any]]


def _read_version(name: str, version: str) -> _Version | None:
    """The leaderboard's version `latest` or `vN`, None when there is none. Read through the
    client's trace-server interface: the object API (`weave.ref(...).get()`) drops the version
    index that `publish_leaderboard` needs."""
    import weave
    from weave.trace_server_bindings.http_utils import retry_on_not_found

    client = weave.get_client()
    if client is None:
        raise EvalJobError("Weave is not initialised: publish_leaderboard runs inside a Weave session")
    try:  # the same one retry on a fresh write's 404 that weave's own reads make
        found = retry_on_not_found(client.server.obj_read)(
            {"project_id": client.project_id, "object_id": name, "digest": version}
        ).obj
    except Exception as exc:  # only "no such version" means none; anything else is a failure
        if getattr(exc, "status_code", None) == 404:
            return None
        raise
    value = found.val if isinstance(found.val, dict) else {}
    columns = [_column_dict(c) for c in value.get("columns") or []]
    return _Version(index=found.version_index, digest=found.digest, columns=columns)


def publish_leaderboard(project: str, columns: list[dict[str, Any]]) -> str:
    """Create the project's Weave leaderboard, or extend it with these columns; returns its ref.

    Weave versions an object on every publish and "latest" is the last one written, with no
    compare-and-swap, so two containers that read, merge and publish at once would each drop
    the other's columns. Versions are never lost, though, and are numbered: a publisher reads
    the latest (version k), publishes its merge, and then checks that version k+1 is its own.
    If another landed in between, it folds the columns of every version after k into its own
    and goes again on top of the new latest. The first version on top of any k is kept by
    every later publisher, so each one's columns end on the leaderboard. Bounded: after
    `LEADERBOARD_ATTEMPTS` rounds the job records a `LeaderboardConflict` instead.
    """
    import weave
    from weave.trace.builtin_object_classes.leaderboard import Leaderboard, LeaderboardColumn

    name = f"{project}-evaljobs"
    wanted = columns
    for _ in range(LEADERBOARD_ATTEMPTS):
        base = _read_version(name, "latest")
        merged = merge_columns(base.columns if base else [], wanted)
        if base is not None and len(merged) == len(base.columns):
            return str(weave.ref(f"{name}:{base.digest}").uri())
        board = Leaderboard(
            name=name,
            description=f"evaljobs: every benchmark metric of every job in {project}",
            columns=[LeaderboardColumn(**c) for c in merged],
        )
        mine = weave.publish(board, name=name)
        digest = mine.digest  # waits for the write, which weave sends in the background
        index = base.index + 1 if base else 0
        landed = _read_version(name, f"v{index}")
        if landed is not None and landed.digest == digest:
            return str(mine.uri())
        if landed is None:  # the merge equals an older version, which cannot become the latest again
            raise LeaderboardConflict(
                f"the merged leaderboard {name} equals one of its older versions; "
                "add the missing columns in the Weave UI or publish it under a new name"
            )
        while landed is not None and landed.digest != digest:  # published while this one merged
            wanted = merge_columns(wanted, landed.columns)
            index += 1
            landed = _read_version(name, f"v{index}")
    raise LeaderboardConflict(
        f"leaderboard {name} changed under this job {LEADERBOARD_ATTEMPTS} times; "
        "its columns are not on it (run the job's Weave sink again)"
    )


def _evaluation_ref(logger: EvaluationLogger) -> str:
    """The ref of the Evaluation an EvaluationLogger logged under, for a leaderboard column.

    weave 0.54 has no public accessor for it: the logger builds the Evaluation itself and
    keeps it as `_pseudo_evaluation`; publishing an equal Evaluation ourselves would not give
    the same ref (the logger binds its own ops to it). This is the one private use.
    """
    ref = logger._pseudo_evaluation.ref
    if ref is None:
        raise EvalJobError("Weave did not save the evaluation (no ref after logging)")
    return str(ref.uri())


@contextmanager
def weave_session(project: str, job_id: str) -> Iterator[str]:
    """Weave logging to `project` (`entity/project`, or the key's default entity's), with no LLM
    client patched, ended on the way out; yields the `entity/project` it logs to.

    A client left by someone else (W&B's run init starts one when weave is imported) is ended
    first, so this session's settings and attributes are the ones in force.
    """
    import weave

    weave.finish()
    try:
        client = weave.init(
            project,
            settings={"implicitly_patch_integrations": False},
            attributes={"evaljobs_job_id": job_id},
        )
        yield f"{client.entity}/{client.project}"
    finally:
        weave.finish()


class WeaveSink:
    """Each benchmark as a Weave evaluation in `entity/project`, and the project's leaderboard."""

    name = "weave"

    def write(self, job: JobRecord, ctx: SinkContext) -> Runtime | None:
        if ctx.settings.weave == "off":
            return Runtime(weave="skipped: EVALJOBS_WEAVE=off")
        if not os.environ.get("WANDB_API_KEY"):
            return Runtime(weave="skipped: no WANDB_API_KEY (Weave has no offline mode)")
        from evaljobs.wandb_config import wandb_entity

        entity = wandb_entity(job.entity)  # none for `local`: the key's default entity
        with weave_session(f"{entity}/{job.project}" if entity else job.project, job.id) as project:
            columns: list[dict[str, Any]] = []
            for result in job.results:
                columns += leaderboard_columns(result, _log_evaluation(job, result))
            board = publish_leaderboard(job.project, columns) if job.spec.leaderboard else None
        ctx.say(f"Weave: {len(job.results)} evaluation(s) logged to {project}; leaderboard {board or 'off'}")
        return Runtime(weave="logged", weave_project=project, weave_leaderboard=board)


def _log_evaluation(job: JobRecord, result: BenchmarkResult) -> str:
    """Log one benchmark's samples and summary; returns the Evaluation's ref."""
    import weave

    from evaljobs.compare import sample_value

    identity = evaluation_identity(job, result)
    name = _evaluation_name(identity)
    logger = weave.EvaluationLogger(
        name=f"{job.model} · {name}",
        model=job.model.replace("/", "_").replace(":", "_"),
        dataset=weave.Dataset(name=name, rows=weave.Table([identity])),
        eval_attributes=identity,
    )
    for sample in _samples(result):
        prediction = logger.log_prediction(
            inputs={"id": str(sample.id), "input": sample.input if isinstance(sample.input, str) else ""},
            output=sample.output.completion if sample.output else None,
        )
        value = sample_value(sample, result.primary_metric) if result.primary_metric else None
        if value is not None:
            prediction.log_score(scorer=result.primary_metric or "score", score=value)
        prediction.finish()
    logger.log_summary(
        {m.name: {"value": m.value, "stderr": m.stderr} for m in result.metrics}, auto_summarize=False
    )
    return _evaluation_ref(logger)
