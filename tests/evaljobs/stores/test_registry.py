"""The registry contract, held by both adapters: SQLite and DynamoDB (against a moto server)."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from evaljobs.errors import JobNotFoundError
from evaljobs.records import (
    Accounting,
    BenchmarkResult,
    JobRecord,
    JobStatus,
    MetricValue,
    Rates,
    Runtime,
    Trigger,
)
from evaljobs.settings import Settings
from evaljobs.stores import JobRegistry
from evaljobs.stores.sqlite_registry import SqliteRegistry


@pytest.fixture(params=["sqlite", "dynamodb"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> JobRegistry:
    if request.param == "sqlite":
        return SqliteRegistry(tmp_path / "r.sqlite3")
    from evaljobs.stores.dynamodb_registry import DynamoRegistry
    from tests.support.moto_server import new_table

    endpoint = request.getfixturevalue("aws_endpoint")
    return DynamoRegistry(new_table(endpoint), Settings(aws_endpoint_url=endpoint))


SPEC = {"model": {"api": {"model": "openai/m"}}, "benchmarks": ["boolq"]}


def record(job_id: str = "job-1", project: str = "p") -> JobRecord:
    return JobRecord(
        id=job_id,
        entity="e",
        project=project,
        model="m",
        spec={"model": {"api": {"model": "openai/m"}}, "benchmarks": ["boolq"]},
    )


def test_create_get_list(registry: JobRegistry) -> None:
    reg = registry
    reg.create(record("job-1", "a"))
    reg.create(record("job-2", "b"))
    assert reg.get("job-1").project == "a"
    assert [j.id for j in reg.jobs(project="b")] == ["job-2"]
    assert {j.id for j in reg.jobs(status=JobStatus.QUEUED)} == {"job-1", "job-2"}
    with pytest.raises(JobNotFoundError):
        reg.get("job-404")


def test_only_legal_transitions(registry: JobRegistry) -> None:
    reg = registry
    reg.create(record())
    assert not reg.transition("job-1", JobStatus.SUCCEEDED)  # queued -> succeeded skips running
    assert reg.transition("job-1", JobStatus.RUNNING)
    assert reg.get("job-1").started_at is not None
    assert not reg.transition("job-1", JobStatus.RUNNING)  # a second runner cannot take it
    assert reg.finish("job-1", JobStatus.SUCCEEDED, [], None)
    assert not reg.finish("job-1", JobStatus.FAILED, [], "late")  # terminal stays terminal
    assert reg.get("job-1").status is JobStatus.SUCCEEDED


def test_finish_writes_results_and_status_together(tmp_path: Path) -> None:
    reg = SqliteRegistry(tmp_path / "r.sqlite3")
    reg.create(record())
    reg.transition("job-1", JobStatus.RUNNING)
    results = [
        BenchmarkResult(
            benchmark="boolq",
            task="t",
            status="success",
            metrics=[MetricValue(name="a/accuracy", value=0.5, stderr=0.1)],
        ),
        BenchmarkResult(benchmark="piqa", task="t", status="success"),
    ]
    results.append(results[0])  # duplicate primary key: the transaction must roll back whole
    with pytest.raises(Exception, match="UNIQUE"):
        reg.finish("job-1", JobStatus.SUCCEEDED, results, None)
    job = reg.get("job-1")
    assert job.status is JobStatus.RUNNING and job.results == []
    assert reg.finish("job-1", JobStatus.SUCCEEDED, results[:2], None)
    job = reg.get("job-1")
    assert [r.benchmark for r in job.results] == ["boolq", "piqa"]
    assert job.results[0].metrics[0].stderr == 0.1


def test_runtime_and_cancel_flag(registry: JobRegistry) -> None:
    reg = registry
    reg.create(record())
    reg.update_runtime("job-1", Runtime(pid=123), versions={"inspect-ai": "0.3"})
    job = reg.get("job-1")
    assert job.runtime.pid == 123 and job.versions["inspect-ai"] == "0.3"
    assert not reg.cancel_requested("job-1")
    reg.request_cancel("job-1")
    assert reg.cancel_requested("job-1")


def test_finish_is_atomic_on_both_adapters(registry: JobRegistry) -> None:
    registry.create(record())
    registry.transition("job-1", JobStatus.RUNNING)
    result = BenchmarkResult(benchmark="boolq", task="t", status="success", cost_usd=0.5, model_server_s=60)
    used = Accounting(
        input_tokens=10,
        output_tokens=2,
        wall_time_s=90.0,
        model_server_s=60.0,
        model_server_startup_s=20.0,
        cost_usd=0.5,
        rates=Rates(server_hour_usd=30.0, basis="test"),
    )
    assert registry.finish("job-1", JobStatus.FAILED, [result], "boom", used)
    job = registry.get("job-1")
    assert (job.status, job.error, [r.benchmark for r in job.results]) == (
        JobStatus.FAILED,
        "boom",
        ["boolq"],
    )
    assert job.accounting == used and job.results[0].cost_usd == 0.5


def test_idempotency_key_makes_one_job_under_concurrency(registry: JobRegistry) -> None:
    def attempt(i: int) -> str:
        return registry.create(record(f"job-{i}"), "webhook:p:artifact-v3").id

    with ThreadPoolExecutor(10) as pool:
        ids = set(pool.map(attempt, range(10)))
    assert len(ids) == 1 and [j.id for j in registry.jobs()] == list(ids)


def test_filters_by_entity_and_trigger_and_order(registry: JobRegistry) -> None:
    import time

    for i, (entity, kind) in enumerate([("a", "cli"), ("b", "webhook"), ("a", "cron")]):
        registry.create(
            JobRecord(
                id=f"job-{i}", entity=entity, project="p", model="m", spec=SPEC, trigger=Trigger(kind=kind)
            )
        )
        time.sleep(0.002)
    assert [j.id for j in registry.jobs(entities=["a"])] == ["job-2", "job-0"]
    assert [j.id for j in registry.jobs(entities=[])] == []
    assert [j.id for j in registry.jobs(trigger="webhook")] == ["job-1"]
    assert [j.id for j in registry.jobs(oldest_first=True, limit=2)] == ["job-0", "job-1"]
    assert registry.projects() == [("a", "p"), ("b", "p")]


# eight independent runtime fields, each written by its own thread
FIELDS = [
    "host",
    "modal_call_id",
    "job_dir",
    "checkpoint",
    "weave",
    "weave_project",
    "weave_leaderboard",
    "eval_logs_uri",
]


def test_concurrent_runtime_updates_are_not_lost(registry: JobRegistry) -> None:
    registry.create(record())
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: registry.update_runtime("job-1", Runtime(**{FIELDS[i]: f"v{i}"})), range(8)))
    runtime = registry.get("job-1").runtime
    assert {name: getattr(runtime, name) for name in FIELDS} == {
        name: f"v{i}" for i, name in enumerate(FIELDS)
    }


def test_a_conditional_runtime_update_has_one_winner_among_concurrent_writers(registry: JobRegistry) -> None:
    """What keeps two dispatchers from spawning one job twice: of eight writers claiming an
    unclaimed job at once, exactly one writes; the condition is judged on the job as it stands
    at the write, not as each writer read it."""
    from evaljobs.records import utcnow

    registry.create(record())
    unclaimed = lambda job: job.runtime.dispatched_at is None  # noqa: E731
    claims = [Runtime(dispatched_at=utcnow(), host=f"dispatcher-{i}") for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(lambda c: registry.update_runtime("job-1", c, when=unclaimed), claims))
    assert won.count(True) == 1
    runtime = registry.get("job-1").runtime
    assert runtime.host == claims[won.index(True)].host  # the winner's write, whole
    assert registry.update_runtime("job-1", Runtime(pid=7)) is True  # unconditional: always writes


def test_shard_jobs_are_listed_with_their_parent_and_only_they_are_retried(registry: JobRegistry) -> None:
    from evaljobs.records import ShardOf

    reg = registry
    reg.create(record("job-1"))
    shard = record("job-1-s0").model_copy(update={"shard": ShardOf(parent="job-1", index=0, count=2)})
    reg.create(shard)
    assert [j.id for j in reg.jobs()] == ["job-1"]  # listings, leaderboards: the job, not its parts
    assert {j.id for j in reg.jobs(include_shards=True)} == {"job-1", "job-1-s0"}
    assert [j.id for j in reg.jobs(status=JobStatus.QUEUED, include_shards=True, oldest_first=True)] == [
        "job-1",
        "job-1-s0",
    ]
    for job_id in ("job-1", "job-1-s0"):
        assert reg.transition(job_id, JobStatus.RUNNING)
        assert reg.finish(job_id, JobStatus.FAILED, [], "boom")
    assert not reg.transition("job-1", JobStatus.QUEUED)  # a job's failure is final
    assert reg.transition("job-1-s0", JobStatus.QUEUED, runtime=Runtime(attempt=2))  # a shard goes again
    again = reg.get("job-1-s0")
    assert (again.status, again.error, again.finished_at, again.runtime.attempt) == (
        JobStatus.QUEUED,
        None,
        None,
        2,
    )
    assert not reg.finish("job-1-s0", JobStatus.QUEUED, [], None)  # finish only ends a job
