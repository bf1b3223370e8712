import io
from pathlib import Path

from typer.testing import CliRunner

from evaljobs.records import BenchmarkResult, JobRecord, JobStatus, MetricValue
from evaljobs.settings import get_settings
from evaljobs.spec import JobSpec
from evaljobs.stores.sqlite_registry import SqliteRegistry
from functions.cli import app

runner = CliRunner()


def test_validate_reports_problems_and_exits_2(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "job.yaml"
    bad.write_text("model:\n  checkpoint: {uri: /nowhere}\nbenchmarks: [arc_easy, nope]\n")
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2
    assert "/benchmarks/1" in result.stderr and "unknown benchmark 'nope'" in result.stderr


def test_malformed_yaml_exits_2(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "job.yaml"
    bad.write_text("model: [unclosed\n")
    result = runner.invoke(app, ["run", str(bad)])
    assert result.exit_code == 2 and "not valid YAML" in result.stderr
    assert SqliteRegistry(get_settings().db_path).jobs() == []


def test_leaderboard_prints_and_exports(home: Path, tmp_path: Path) -> None:
    registry = SqliteRegistry(get_settings().db_path)
    spec = JobSpec.model_validate(
        {"project": "demo", "model": {"checkpoint": {"uri": "/m"}}, "benchmarks": ["boolq"], "limit": 10}
    )
    registry.create(JobRecord(id="job-1", entity="local", project="demo", model="gemma", spec=spec))
    registry.transition("job-1", JobStatus.RUNNING)
    registry.finish(
        "job-1",
        JobStatus.SUCCEEDED,
        [
            BenchmarkResult(
                benchmark="boolq",
                task="inspect_evals/boolq",
                status="success",
                samples_completed=10,
                metrics=[MetricValue(name="pattern/accuracy", value=0.7, stderr=0.15)],
            )
        ],
        None,
    )
    out = tmp_path / "rows.csv"
    result = runner.invoke(app, ["leaderboard", "--project", "demo", "--export", str(out)])
    assert result.exit_code == 0, result.output
    assert "boolq" in result.stdout and "0.700 ±0.294" in result.stdout
    assert out.read_text().splitlines()[1].startswith("local,demo,job-1")
    exported = runner.invoke(app, ["export-config", "job-1"])
    assert exported.exit_code == 0
    assert "tasks:\n- boolq\nlimit: 10\nartifact_path: /m\n" in exported.stdout


def test_tokens_from_the_cli_authenticate_and_are_stored_hashed(home: Path) -> None:
    import sqlite3

    from evaljobs.stores.sqlite_triggers import SqliteTriggerStore

    result = runner.invoke(
        app, ["token", "create", "--entity", "team-a", "--entity", "team-b", "--name", "ci"]
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    store = SqliteTriggerStore(get_settings().db_path)
    principal = store.principal(token)
    assert principal is not None and principal.entities == {"team-a", "team-b"} and principal.name == "ci"
    hook = runner.invoke(app, ["token", "webhook", "--entity", "team-a"])
    access = hook.stdout.split("access token (W&B webhook 'Access token' secret):")[1].split()[0]
    credential = store.webhook_credential(access)
    assert credential is not None and credential.entity == "team-a"
    raw = get_settings().db_path.read_bytes() + b"".join(
        p.read_bytes() for p in get_settings().db_path.parent.glob("*.sqlite3-wal")
    )
    assert token.encode() not in raw and access.encode() not in raw
    with sqlite3.connect(get_settings().db_path) as db:
        assert db.execute("SELECT count(*) FROM api_tokens").fetchone()[0] == 1


def test_serve_loads_policies_and_answers_health(home: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys
    import time

    import httpx

    from tests.support.live_server import free_port

    policies = tmp_path / "policies.yaml"
    policies.write_text(
        "policies:\n  - {name: p, entity: e, match: {collection: 'm-*'}, job: {benchmarks: [boolq]}}\n"
    )
    port = free_port()
    cli = str(Path(sys.executable).with_name("evaljobs"))
    server = subprocess.Popen(
        [cli, "serve", "--port", str(port), "--workers", "0", "--policies", str(policies)],
        env=dict(os.environ),
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(30)
    from evaljobs.stores.sqlite_triggers import SqliteTriggerStore

    assert [p.name for p in SqliteTriggerStore(get_settings().db_path).policies()] == ["p"]


def test_serve_refuses_a_bad_policies_file(home: Path, tmp_path: Path) -> None:
    policies = tmp_path / "policies.yaml"
    policies.write_text("policies:\n  - {name: p, entity: e, match: {}, job: {benchmarks: [nope]}}\n")
    result = runner.invoke(app, ["serve", "--policies", str(policies)])
    assert result.exit_code != 0
    assert "/job/benchmarks/0" in (result.stderr + str(result.exception))


NO_JOB = "error: no job 'job-404'; `evaljobs list` shows the jobs there are\n"
"""What a command that looks up an unknown job prints on stderr."""


def test_every_command_reports_an_evaljob_error_on_stderr_and_exits_1(home: Path) -> None:
    for args in (
        ["status", "job-404"],
        ["show", "job-404"],
        ["rerun", "job-404"],
        ["resume", "job-404"],
        ["export-config", "job-404"],
        ["compare", "job-404"],
    ):
        result = runner.invoke(app, args)
        assert (result.exit_code, result.stdout, result.stderr) == (1, "", NO_JOB), args
    cancel = runner.invoke(app, ["cancel", "job-404"])
    assert (cancel.exit_code, cancel.stderr) == (1, "error: no job 'job-404'\n")
    logs = runner.invoke(app, ["logs", "job-404"])
    assert logs.exit_code == 1 and logs.stderr.startswith("error: no log for job-404 at ")
    rerun = runner.invoke(app, ["rerun"])
    assert (rerun.exit_code, rerun.stderr) == (1, "error: name a job, or --last PROJECT\n")


def test_an_invalid_job_exits_2_from_every_command_that_reads_one(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "job.yaml"
    bad.write_text("model:\n  checkpoint: {uri: /nowhere}\nbenchmarks: [nope]\n")
    for command in ("run", "submit", "validate"):
        result = runner.invoke(app, [command, str(bad)])
        assert result.exit_code == 2 and result.stdout == "", command
        assert result.stderr.startswith("error: the job is not valid (1 problem(s)):\n  - /benchmarks/0: ")
    missing = runner.invoke(app, ["validate", str(tmp_path / "none.yaml")])
    assert (missing.exit_code, missing.stderr) == (1, f"error: {tmp_path / 'none.yaml'} does not exist\n")


def test_the_console_script_reports_errors_the_same_way(home: Path, tmp_path: Path) -> None:
    """`evaljobs` goes through `Typer.__call__`, not `CliRunner`; the handler sits where both pass."""
    import os
    import subprocess
    import sys

    cli = str(Path(sys.executable).with_name("evaljobs"))
    bad = tmp_path / "job.yaml"
    bad.write_text("model: [unclosed\n")
    missing = subprocess.run([cli, "status", "job-404"], env=dict(os.environ), capture_output=True, text=True)
    assert (missing.returncode, missing.stdout, missing.stderr) == (1, "", NO_JOB)
    invalid = subprocess.run(
        [cli, "validate", str(bad)], env=dict(os.environ), capture_output=True, text=True
    )
    assert (
        invalid.returncode == 2
        and invalid.stderr.startswith("error: ")
        and "not valid YAML" in invalid.stderr
    )
    assert "Traceback" not in missing.stderr + invalid.stderr


def _finished_job(registry: SqliteRegistry, job_id: str, model: str, scores: dict[str, float]) -> None:
    spec = JobSpec.model_validate(
        {"project": "demo", "model": {"checkpoint": {"uri": f"/m/{model}"}}, "benchmarks": list(scores)}
    )
    registry.create(JobRecord(id=job_id, entity="local", project="demo", model=model, spec=spec))
    registry.transition(job_id, JobStatus.RUNNING)
    results = [
        BenchmarkResult(
            benchmark=name,
            task=f"inspect_evals/{name}",
            status="success",
            scoring="loglikelihood" if name != "gsm8k" else "generate",
            samples_completed=25,
            metrics=[
                MetricValue(
                    name="acc_norm/accuracy" if name != "gsm8k" else "match/accuracy", value=v, stderr=0.1
                )
            ],
            primary_metric="acc_norm/accuracy" if name != "gsm8k" else "match/accuracy",
        )
        for name, v in scores.items()
    ]
    registry.finish(job_id, JobStatus.SUCCEEDED, results, None)


def test_leaderboard_puts_models_side_by_side_whole_in_80_columns(home: Path) -> None:
    """Before: one table of 8 columns per job row, whose model and time columns were cut to `mo…`."""
    registry = SqliteRegistry(get_settings().db_path)
    _finished_job(registry, "job-000000000001", "gemma-3-270m", {"arc_easy": 0.48, "hellaswag": 0.36})
    _finished_job(registry, "job-000000000002", "smollm2-135m-instruct", {"arc_easy": 0.44, "gsm8k": 0.04})
    _finished_job(
        registry, "job-000000000003", "gemma-3-270m", {"arc_easy": 0.52, "hellaswag": 0.40}
    )  # latest

    side = runner.invoke(app, ["leaderboard", "--project", "demo"])
    assert side.exit_code == 0, side.output
    lines = side.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80 and "…" not in side.stdout
    row = next(line for line in lines if "arc_easy" in line)
    assert "0.520 ±0.196" in row and "0.440 ±0.196" in row  # each model's latest, one row
    assert "0.480" not in side.stdout  # the older gemma job is not a standing
    assert "gsm8k" in side.stdout and "acc_norm (LL)" in side.stdout
    assert "smollm2-135m-instruct" in side.stdout  # a model's column is as wide as its name

    every = runner.invoke(app, ["leaderboard", "--project", "demo", "--jobs"])
    assert every.exit_code == 0, every.output
    assert max(len(line) for line in every.stdout.splitlines()) <= 80 and "…" not in every.stdout
    assert every.stdout.count("arc_easy") == 3 and "[0.324, 0.716]" in every.stdout
    for name in ("job-000000000001", "job-000000000002", "job-000000000003", "smollm2-135m-instruct"):
        assert name in every.stdout

    from rich.console import Console

    from functions.tables import results_table

    console = Console(width=80, record=True, file=io.StringIO())  # what `evaljobs run` prints at the end
    console.print(results_table(registry.get("job-000000000002")))
    shown = console.export_text()
    assert max(len(line) for line in shown.splitlines()) <= 80 and "…" not in shown
    assert "gsm8k" in shown and "0.4400 ±0.1000" in shown and "match" not in shown


def test_compare_last_takes_the_project_s_latest_job_against_its_baseline(home: Path) -> None:
    registry = SqliteRegistry(get_settings().db_path)
    _finished_job(registry, "job-000000000001", "gemma-3-270m", {"arc_easy": 0.48})
    _finished_job(registry, "job-000000000002", "smollm2-135m-instruct", {"arc_easy": 0.44})
    result = runner.invoke(app, ["compare", "--last", "demo", "--json"])
    assert result.exit_code == 0, result.output
    shown = runner.invoke(app, ["compare", "--last", "demo"]).stdout
    assert "job-000000000002 vs job-000000000001" in shown
    assert max(len(line) for line in shown.splitlines()) <= 80 and "…" not in shown  # was cut to `benc…`
    missing = runner.invoke(app, ["compare", "--last", "nothing-here"])
    assert missing.exit_code != 0 and "no succeeded job" in missing.output
