"""What the registry stores about a job and its benchmarks (pydantic: persisted)."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from evaljobs.spec import JobSpec

__all__ = [
    "Accounting",
    "BenchmarkComparison",
    "BenchmarkResult",
    "Comparison",
    "GpuPlan",
    "JobRecord",
    "JobStatus",
    "MetricValue",
    "ModelArtifact",
    "ModelServerTime",
    "Preflight",
    "Rates",
    "Runtime",
    "ShardOf",
    "SinkFailure",
    "Trigger",
    "WandbRun",
    "may_transition",
    "this_host",
    "transitioned",
    "utcnow",
]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def this_host() -> str:
    """Where this process runs, as runners record it (`runtime.host`): the Modal container
    (`MODAL_TASK_ID`, which a container's processes share), else the machine's hostname. Pids
    and paths mean something only on their own host."""
    return os.environ.get("MODAL_TASK_ID") or socket.gethostname()


class JobStatus(StrEnum):
    """Lifecycle of a job."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """True when the job will not change any more."""
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


ALLOWED_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.CANCELLED, JobStatus.FAILED}),
    JobStatus.RUNNING: frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}


def may_transition(record: JobRecord, to: JobStatus) -> bool:
    """Whether `record` may move to `to`: the lifecycle above, and one exception: a failed shard
    of a fanned-out job goes back to the queue to be retried (alone; its parent decides)."""
    if to in ALLOWED_TRANSITIONS[record.status]:
        return True
    return record.shard is not None and record.status is JobStatus.FAILED and to is JobStatus.QUEUED


class Trigger(BaseModel):
    """What started a job."""

    kind: str = "cli"
    """cli, http, webhook or cron (a re-run records `rerun_of` in its detail)."""
    detail: dict[str, Any] = Field(default_factory=dict)
    """The event behind it (e.g. the webhook payload or the schedule tick)."""


class MetricValue(BaseModel):
    """One metric of one scorer, with its standard error when the task reports one."""

    name: str
    """`scorer/metric`, e.g. `choice/accuracy`."""
    value: float
    """The metric's value."""
    stderr: float | None = None
    """Standard error of the value, when reported."""


class BenchmarkResult(BaseModel):
    """The outcome of one benchmark of a job."""

    benchmark: str
    """Catalog id."""
    task: str
    """inspect-ai task name that ran."""
    scoring: str = "generate"
    """generate or loglikelihood."""
    status: str
    """inspect-ai log status: success, error, cancelled."""
    metrics: list[MetricValue] = Field(default_factory=list)
    """Every metric with its stderr."""
    primary_metric: str | None = None
    """The metric a leaderboard sorts by."""
    samples_total: int = 0
    """Samples the benchmark was asked to run (after the limit)."""
    samples_completed: int = 0
    """Samples that completed."""
    input_tokens: int = 0
    """Prompt tokens used."""
    output_tokens: int = 0
    """Completion tokens used."""
    grader_input_tokens: int = 0
    """Prompt tokens of the grader (model-graded benchmarks); not in `input_tokens`."""
    grader_output_tokens: int = 0
    """Completion tokens of the grader; not in `output_tokens`."""
    wall_time_s: float | None = None
    """Seconds from the benchmark's start to its end."""
    model_server_s: float | None = None
    """Its share of the model server's time (by tokens; benchmarks share one server)."""
    cost_usd: float | None = None
    """Estimated cost of its share (see `JobRecord.accounting.rates`); None when unknown."""
    grader_cost_usd: float | None = None
    """Estimated cost of its grader tokens at the grader's prices; None when unknown or unused."""
    log_path: str | None = None
    """The inspect-ai eval log."""
    error: str | None = None
    """Error message when the benchmark did not succeed."""

    def primary(self) -> MetricValue | None:
        """The primary metric, or the first one."""
        for metric in self.metrics:
            if metric.name == self.primary_metric:
                return metric
        return self.metrics[0] if self.metrics else None


class Rates(BaseModel):
    """The prices a cost estimate used (USD)."""

    server_hour_usd: float | None = None
    """One hour of the model server (all its GPUs), for a served checkpoint."""
    input_per_mtok_usd: float | None = None
    """A million prompt tokens, for a hosted API."""
    output_per_mtok_usd: float | None = None
    """A million completion tokens, for a hosted API."""
    grader_input_per_mtok_usd: float | None = None
    """A million prompt tokens of the grader (`grader.pricing` of the job)."""
    grader_output_per_mtok_usd: float | None = None
    """A million completion tokens of the grader."""
    basis: str
    """Where the prices came from, for a person."""


class Accounting(BaseModel):
    """A job's totals (its benchmarks carry their own shares)."""

    input_tokens: int
    output_tokens: int
    wall_time_s: float | None
    """Runner start to end of evaluation."""
    model_server_s: float | None
    """vLLM start to stop, loading included (none for a hosted API)."""
    model_server_startup_s: float | None
    """Of which loading the model until the server answered."""
    cost_usd: float | None
    """Estimated, for the model under test; None when the prices are unknown."""
    rates: Rates
    grader_input_tokens: int = 0
    """The grader's prompt tokens (model-graded benchmarks), apart from the model's."""
    grader_output_tokens: int = 0
    grader_cost_usd: float | None = None
    """The grader's tokens at `grader.pricing`; None when it has none (or no grader ran)."""


class Preflight(BaseModel):
    """What the runner found in a checkpoint before serving it."""

    architecture: str | None
    """`architectures[0]` of config.json."""
    weights_gb: float
    """Size of the weights (GiB)."""
    kv_cache_gb: float
    """KV cache for `max_model_len` (GiB)."""
    total_gb: float
    """Weights plus KV cache: what the 86 GB cap applies to."""
    dtype: str
    """The dtype the server loads."""
    chat_template: str
    """Where the chat template came from: `checkpoint`, `job` or `default`."""


class GpuPlan(BaseModel):
    """How the model server uses the runner's GPUs, and what it was decided from."""

    tensor_parallel: int
    """GPUs one replica spans."""
    data_parallel: int
    """Replicas."""
    reason: str
    """Why, for a person."""
    total_gb: float
    """Weights plus KV cache the plan was made for (GiB)."""
    gpus: int
    """GPUs of the runner."""
    gpu_memory_gb: float
    """Memory of one GPU (GiB)."""
    fallback: str | None = None
    """vLLM's out-of-memory line that made the runner replace data-parallel replicas with tensor
    parallel at start; None when the plan started as made."""
    max_num_seqs: int | None = None
    """Sequences one replica batches (`--max-num-seqs`)."""

    @property
    def capacity(self) -> int | None:
        """Requests the server works on at once: sequences per replica × replicas."""
        return None if self.max_num_seqs is None else self.max_num_seqs * self.data_parallel


class Concurrency(BaseModel):
    """How many requests a job keeps in flight to its model, and why."""

    max_connections: int | None
    """The fixed figure; None when inspect-ai adapts it (hosted APIs)."""
    adaptive_max: int | None = None
    """The ceiling of inspect-ai's adaptive concurrency, when it adapts (None: inspect-ai's own)."""
    source: str
    """Where the figure came from, for a person: the job, the settings, the server plan."""
    processes: int = 1
    """inspect-ai processes sharing it (each takes an equal part of the samples and of the figure)."""


class ModelArtifact(BaseModel):
    """The W&B artifact a checkpoint came from, its alias resolved to a version at download."""

    requested: str
    """`entity/project/name:alias` as the job named it (an alias such as `latest` moves)."""
    resolved: str
    """`entity/project/name:vN`: the version that was downloaded and scored."""
    version: str
    """`vN`."""
    digest: str | None = None
    """W&B's content digest of that version (None from the offline artifact mirror)."""


class ModelServerTime(BaseModel):
    """How long the model server was up, measured around it."""

    up_s: float
    """vLLM start to stop, loading included."""
    startup_s: float | None
    """Of which loading until it answered; None when it never did."""
    requests: int | None = None
    """Requests the server finished, by its own count (vLLM's `vllm:request_success_total`)."""


class BenchmarkComparison(BaseModel):
    """B − A on one benchmark, over the samples both jobs scored."""

    model_config = ConfigDict(frozen=True)

    benchmark: str
    metric: str | None
    """The primary metric compared."""
    shared: int
    """Samples (id, epoch) both jobs scored."""
    threshold: float
    verdict: str
    """regression, improvement, no change, or why it could not be compared."""
    a: float | None = None
    """A's mean over the shared samples."""
    b: float | None = None
    """B's mean over the shared samples."""
    diff: float | None = None
    """B − A."""
    stderr: float | None = None
    """Paired standard error of the difference."""
    ci95_low: float | None = None
    ci95_high: float | None = None


class Comparison(BaseModel):
    """A job's comparison with its baseline (`baseline:` in the job)."""

    baseline: str | None
    """The baseline job, or None when there was none to compare with."""
    threshold: float | None = None
    """Smallest difference that counts."""
    benchmarks: list[BenchmarkComparison] = Field(default_factory=list)
    """One row per benchmark."""
    regressed: bool | None
    """True when any benchmark regressed; None when nothing was compared."""
    note: str | None = None
    """Why nothing was compared."""


class WandbRun(BaseModel):
    """The job's W&B run."""

    run_id: str
    dir: str
    """Local folder of the run's files."""
    mode: str
    """online or offline."""
    url: str | None = None
    """The run's page, online."""


class SinkFailure(BaseModel):
    """A result sink that failed after the evaluation (the job's status stands)."""

    sink: str
    error: str
    """`Type: message`, secrets scrubbed."""
    traceback: str


class Runtime(BaseModel):
    """What the runner learned and did while running a job; written piecewise, merged field by field.

    Rows written by older versions may carry keys that are no longer fields: they are ignored.
    """

    model_config = ConfigDict(extra="ignore")

    pid: int | None = None
    """Runner process id (on `host`)."""
    host: str | None = None
    """Host (machine or container) the runner process runs on."""
    modal_call_id: str | None = None
    """The Modal function call running the job, in the cloud."""
    dispatched_at: datetime | None = None
    """When a dispatcher took the job to spawn its Modal call (the claim that keeps two from
    spawning it twice); cleared when the spawn never landed or a shard is tried again."""
    job_dir: str | None = None
    """The job's folder: job.log, progress.json, eval logs."""
    resumed: bool = False
    """A runner took over after the previous one died."""
    checkpoint: str | None = None
    """Local path of the checkpoint served."""
    model_artifact: ModelArtifact | None = None
    """The W&B artifact version served, when the checkpoint is a W&B artifact."""
    preflight: Preflight | None = None
    gpu_plan: GpuPlan | None = None
    server_command: list[str] | None = None
    """The vLLM command line."""
    model_server: ModelServerTime | None = None
    sample_seed: int | None = None
    """Seed of sample selection (tasks that shuffle at load)."""
    concurrency: Concurrency | None = None
    """Requests in flight to the model, and where that figure came from."""
    scoring: dict[str, str] = Field(default_factory=dict)
    """Scoring mode per benchmark."""
    wandb: WandbRun | None = None
    weave: str | None = None
    """`logged`, or `skipped: why`."""
    weave_project: str | None = None
    weave_leaderboard: str | None = None
    eval_logs_uri: str | None = None
    """Where the eval logs were copied (`s3://…/jobs/ID/`)."""
    comparison: Comparison | None = None
    shards: list[str] = Field(default_factory=list)
    """A fanned-out job's shard jobs, in shard order."""
    attempt: int = 1
    """Which try of a shard job this is (a failed shard is retried alone)."""
    published: bool = False
    """A shard job's logs are where its parent's merge reads them (on Modal: committed to the
    Volume), so the last shard to publish merges."""
    sink_failures: list[SinkFailure] = Field(default_factory=list)
    """Sinks that failed after the evaluation."""
    sinks_done: list[str] | None = None
    """The result sinks that have run for the job, each recorded as it ends (failed or not); a
    job ended with one missing had its sinks cut off (a killed process), and they run again
    without the done ones (`runners.sinks.owed_sinks`). None: not tracked (a shard, or a row
    from before this field)."""
    sinks_retries: list[datetime] = Field(default_factory=list)
    """When the sinks of the job, cut off, were run again (at most `SINKS_RETRIES` times)."""

    def merged(self, patch: Runtime) -> Runtime:
        """This runtime with the fields `patch` sets replaced; `sink_failures` accumulate."""
        update = {name: getattr(patch, name) for name in patch.model_fields_set}
        if "sink_failures" in update:
            update["sink_failures"] = [*self.sink_failures, *patch.sink_failures]
        return self.model_copy(update=update)


class ShardOf(BaseModel):
    """What part of a fanned-out job a shard job runs (`shards:` in the job)."""

    model_config = ConfigDict(frozen=True)

    parent: str
    """The job it is a shard of; that job holds the merged results."""
    index: int
    """p: it scores the p-th of `count` contiguous parts of every benchmark's samples."""
    count: int
    """K: how many shards the job was split into."""


class JobRecord(BaseModel):
    """A job as the registry holds it."""

    id: str
    """Job id (`job-` + 12 hex)."""
    name: str | None = None
    """Human-readable name."""
    entity: str
    """Destination entity."""
    project: str
    """Destination project."""
    model: str
    """Display name of the model under test."""
    status: JobStatus = JobStatus.QUEUED
    """Lifecycle status."""
    spec: JobSpec
    """The job as submitted, secrets by reference only."""
    trigger: Trigger = Field(default_factory=Trigger)
    """What started it."""
    created_at: datetime = Field(default_factory=utcnow)
    """When it was recorded."""
    started_at: datetime | None = None
    """When a runner picked it up."""
    finished_at: datetime | None = None
    """When it ended."""
    error: str | None = None
    """Why it failed, for a person."""
    versions: dict[str, str] = Field(default_factory=dict)
    """Versions that shape results: inspect-ai, inspect_evals, vLLM, datasets."""
    runtime: Runtime = Field(default_factory=Runtime)
    """What the runner learned and did."""
    results: list[BenchmarkResult] = Field(default_factory=list)
    """Per-benchmark results, written once when the job ends."""
    accounting: Accounting | None = None
    """Tokens, times and estimated cost of the whole job, written with the results."""
    shard: ShardOf | None = None
    """Set on the shard jobs of a fanned-out job (listed with their parent, not on their own)."""

    @field_serializer("spec")
    def _spec_as_submitted(self, spec: JobSpec) -> dict[str, Any]:
        return spec.model_dump(mode="json", exclude_none=True)


def transitioned(record: JobRecord, to: JobStatus, error: str | None, runtime: Runtime | None) -> JobRecord:
    """The record after a legal move to `to` (the adapters check legality inside their write)."""
    update: dict[str, Any] = {"status": to}
    if error is not None:
        update["error"] = error
    if runtime is not None:
        update["runtime"] = record.runtime.merged(runtime)
    if to is JobStatus.RUNNING and record.started_at is None:
        update["started_at"] = utcnow()
    if to.terminal:
        update["finished_at"] = utcnow()
    if to is JobStatus.QUEUED:  # a shard retried: it is not finished, and the old error is history
        update.update(finished_at=None, error=error)
    return record.model_copy(update=update)
