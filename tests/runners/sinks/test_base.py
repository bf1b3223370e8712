"""The sinks' one error policy: a failing sink is recorded (with its traceback, secrets scrubbed),
the job's status stands, and the sinks after it still run and see what earlier ones recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaljobs.records import JobRecord, JobStatus, Runtime
from evaljobs.settings import get_settings
from evaljobs.stores.sqlite_registry import SqliteRegistry
from runners.sinks import SinkContext, run_sinks
from tests.support.jobs import ended_job

SPEC = {"model": {"api": {"model": "openai/m"}}, "benchmarks": ["boolq"]}


class Recording:
    name = "recording"

    def __init__(self) -> None:
        self.seen: list[Runtime] = []

    def write(self, job: JobRecord, ctx: SinkContext) -> Runtime | None:
        self.seen.append(job.runtime)
        return Runtime(eval_logs_uri="s3://b/jobs/job-1/")


class Failing:
    name = "failing"

    def write(self, job: JobRecord, ctx: SinkContext) -> Runtime | None:
        raise ConnectionError("refused with key sk-planted-secret-value")


def test_a_failing_sink_is_recorded_and_the_rest_run(home: Path) -> None:
    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    registry.create(JobRecord(id="job-1", entity="e", project="p", model="m", spec=SPEC))
    registry.transition("job-1", JobStatus.RUNNING)
    registry.finish("job-1", JobStatus.SUCCEEDED, [], None)
    said: list[str] = []
    context = SinkContext(registry, settings, home / "job-1", said.append, ["sk-planted-secret-value"])
    first, last = Recording(), Recording()

    job = run_sinks([first, Failing(), last], "job-1", context)

    assert job.status is JobStatus.SUCCEEDED and job.error is None
    [failure] = job.runtime.sink_failures
    assert failure.sink == "failing" and failure.error == "ConnectionError: refused with key ***"
    assert "Traceback" in failure.traceback and "sk-planted-secret-value" not in failure.traceback
    assert last.seen[0].eval_logs_uri == "s3://b/jobs/job-1/"  # what the first sink recorded
    assert any("failing failed" in line for line in said)
    assert registry.get("job-1").runtime == job.runtime


class Killed(BaseException):
    """The runner's process ending inside a sink (a preemption, an OOM kill): nothing after it runs."""


class Named:
    def __init__(self, name: str, kill: bool = False) -> None:
        self.name, self.kill, self.runs = name, kill, 0

    def write(self, job: JobRecord, ctx: SinkContext) -> Runtime | None:
        self.runs += 1
        if self.kill:
            raise Killed
        return None


def test_sinks_cut_off_run_again_without_the_ones_that_ended(home: Path) -> None:
    """Each sink's end is recorded as it happens, so a run cut off inside one is taken up again
    there: the ones before it (a W&B run, a leaderboard row) are not sent twice."""
    settings = get_settings()
    registry = SqliteRegistry(settings.db_path)
    ended_job(registry, "job-1", sinks_done=[])
    context = SinkContext(registry, settings, home / "job-1", lambda line: None)
    first, failing, killing, last = Named("first"), Failing(), Named("killing", kill=True), Named("last")

    with pytest.raises(Killed):
        run_sinks([first, failing, killing, last], "job-1", context)
    assert registry.get("job-1").runtime.sinks_done == ["first", "failing"]  # a failure is an end too

    killing.kill = False
    job = run_sinks([first, failing, killing, last], "job-1", context)

    assert (first.runs, killing.runs, last.runs) == (1, 2, 1)
    assert job.runtime.sinks_done == ["first", "failing", "killing", "last"]
    assert len(job.runtime.sink_failures) == 1  # the failing sink was not run again
