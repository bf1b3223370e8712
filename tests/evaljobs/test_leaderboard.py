import csv
import io
import json
from pathlib import Path

from evaljobs.leaderboard import leaderboard_rows, to_csv, to_jsonl
from evaljobs.records import BenchmarkResult, JobRecord, JobStatus, MetricValue
from evaljobs.stores.sqlite_registry import SqliteRegistry


def finished(
    reg: SqliteRegistry, job_id: str, value: float, *, project: str = "demo", leaderboard: bool = True
) -> None:
    reg.create(
        JobRecord(
            id=job_id,
            entity="e",
            project=project,
            model=f"m-{job_id}",
            spec={
                "model": {"api": {"model": "openai/m"}},
                "benchmarks": ["boolq"],
                "limit": 10,
                "leaderboard": leaderboard,
            },
        )
    )
    reg.transition(job_id, JobStatus.RUNNING)
    reg.finish(
        job_id,
        JobStatus.SUCCEEDED,
        [
            BenchmarkResult(
                benchmark=b,
                task=b,
                status="success",
                samples_completed=10,
                metrics=[MetricValue(name="choice/accuracy", value=value, stderr=0.05)],
            )
            for b in ("arc_easy", "boolq")
        ],
        None,
    )


def test_one_row_per_benchmark_per_job_with_ci(tmp_path: Path) -> None:
    reg = SqliteRegistry(tmp_path / "r.sqlite3")
    finished(reg, "job-a", 0.4)
    finished(reg, "job-b", 0.6)
    finished(reg, "job-c", 0.9, leaderboard=False)
    finished(reg, "job-d", 0.9, project="other")
    rows = leaderboard_rows(reg, "demo")
    assert [(r.benchmark, r.job_id) for r in rows] == [
        ("arc_easy", "job-b"),
        ("arc_easy", "job-a"),
        ("boolq", "job-b"),
        ("boolq", "job-a"),
    ]
    top = rows[0]
    assert top.stderr == 0.05 and top.ci95_low is not None and top.ci95_high is not None
    assert abs((top.ci95_high - top.ci95_low) - 2 * 1.96 * 0.05) < 1e-3


def test_exports_round_trip(tmp_path: Path) -> None:
    reg = SqliteRegistry(tmp_path / "r.sqlite3")
    finished(reg, "job-a", 0.4)
    rows = leaderboard_rows(reg, "demo")
    parsed = [json.loads(line) for line in to_jsonl(rows).splitlines()]
    assert [p["value"] for p in parsed] == [r.value for r in rows]
    table = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert [float(t["value"]) for t in table] == [r.value for r in rows]
    assert json.loads(table[0]["metrics"]) == {"choice/accuracy": 0.4}
