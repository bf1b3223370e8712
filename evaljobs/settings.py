"""All configuration of evaljobs, in one place.

Every environment variable evaljobs reads is a field here (prefix `EVALJOBS_`).
Adapters are chosen by these settings, never by code forks.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    """evaljobs settings, read from `EVALJOBS_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="EVALJOBS_", extra="ignore")

    home: Path = Field(default=Path(".evaljobs"))
    """Folder for local state: registry, job folders, leaderboard exports, model cache."""

    registry: Literal["sqlite", "dynamodb"] = "sqlite"
    """Job registry adapter: SQLite in `home`, or a DynamoDB table (`dynamodb_table`)."""

    dynamodb_table: str = "evaljobs-jobs"
    """The DynamoDB table of the `dynamodb` registry."""

    aws_region: str | None = None
    """AWS region of the AWS adapters; unset, boto3's own chain decides (`AWS_DEFAULT_REGION`,
    the AWS config file), as the Modal secret `evaljobs-aws` sets it."""

    aws_endpoint_url: str | None = None
    """Endpoint of an AWS-compatible server (a local stand-in such as moto); None for AWS itself."""

    executor: Literal["local", "inline", "modal"] = "local"
    """Where jobs run: `local` worker subprocess, `inline` in the calling process, or `modal` (GPU runner)."""

    modal_app: str = "evaljobs"
    """Name of the deployed Modal app whose `Runner` the modal executor spawns."""
    modal_max_runners: int = Field(default=4, ge=1, le=1000)
    """Runner calls the modal executor keeps in flight (the `Runner`'s `max_containers`, set at
    deploy from the same variable): the rest wait in the registry, a free runner going to the
    entity with the fewest, so one team's burst does not queue another's job behind it."""

    dataset_source: str = "hub"
    """`hub` (Hugging Face Hub, the default) or a local folder laid out like the Hub."""

    weave: Literal["auto", "off"] = "auto"
    """Log each benchmark as a Weave evaluation when a W&B key is set (`auto`), or never."""

    artifact_source: str = "wandb"
    """Where W&B artifact checkpoints come from: `wandb` (the W&B API) or a local folder laid out
    `entity/project/name/alias/` (offline stand-in)."""

    wandb_mode: Literal["auto", "online", "offline", "disabled"] = "auto"
    """`auto` is online when WANDB_API_KEY is set, offline otherwise."""

    model_cache: Path | None = None
    """Where resolved checkpoints (embedded model, downloaded artifacts) are cached."""

    vllm_start_timeout_s: float = 600.0
    """How long the vLLM server may take to answer /health before the job fails."""

    vllm_extra_args: str = ""
    """Extra command-line arguments appended to every vLLM server start."""

    vllm_cache: Path | None = None
    """vLLM's cache folder (the server's VLLM_CACHE_ROOT): its torch.compile and Triton caches live
    in `torch_compile_cache/`, so a persistent folder (a Modal Volume) spares each cold start the
    recompile. None keeps vLLM's default, `~/.cache/vllm`."""

    gpu_count: int = Field(default=0, ge=0)
    """GPUs the runner has (0: vLLM's CPU build). The Modal runner sets 2."""

    gpu_memory_gb: float = 80.0
    """Memory of one GPU, for the data- vs tensor-parallel plan."""

    gpu_memory_cap_gb: float = 86.0
    """Weights plus KV cache above this are rejected before a server starts."""

    gpu_hour_usd: float = Field(default=3.95, ge=0)
    """Price of one GPU-hour for cost estimates (Modal's H100 list price; set your own)."""

    server_hour_usd: float | None = Field(default=None, ge=0)
    """Price of one model-server hour; overrides gpu_count × gpu_hour_usd (0 on CPU)."""

    secrets_file: Path | None = None
    """Dotenv file that `secret://NAME` resolves against in single-user CLI runs with
    `secrets_from_env` (never in the served API)."""

    secrets_from_env: bool = False
    """Single-user CLI runs on your own machine: let `secret://NAME` also read your environment
    (and `secrets_file`). The served API and its runners ignore it: there a job's secrets come
    only from its entity's secret store."""

    secrets_key: str | None = None
    """Key (urlsafe base64 of 32 bytes) that encrypts the SQLite secret store; without it a key file
    `secrets.key` (mode 0600) is created in `home`."""

    allowed_hosts: str = ""
    """Hosts a job's `base_url` may name (hosted model, grader), comma-separated globs;
    `entity:pattern` allows a host for one entity only. Empty: only loopback, if allowed."""

    allow_loopback: bool = True
    """Let jobs reach loopback (localhost) URLs: the embedded default serves models there. Turn
    it off on a shared deployment. Link-local and cloud metadata addresses are always refused."""

    model_entities: str = ""
    """W&B entities whose artifacts an entity's jobs may serve besides its own:
    `team-a:shared-models,*:public-models` (`*` = every entity)."""

    s3_buckets: str = ""
    """`s3://` buckets an entity's jobs may serve checkpoints from: `team-a:bucket-a,*:public-models`.
    Empty: none."""

    local_model_roots: str = ""
    """Folders (comma-separated) whose checkpoints tenants' jobs may serve; empty: the model cache
    (`home/models`). The operator's own CLI may serve any folder."""

    max_body_bytes: int = 1024 * 1024
    """Largest request body the API reads (jobs, policies, webhooks); larger ones get 413 before
    anything, credentials included, is looked at."""

    secrets_prefix: str = "evaljobs"
    """AWS Secrets Manager names are `PREFIX/ENTITY/NAME` (the secret store beside a DynamoDB registry)."""

    max_connections: int | None = Field(default=None, ge=1)
    """Concurrent requests to the model, overriding what each job would derive: a served
    checkpoint's server capacity (`max_num_seqs` × replicas), a hosted API's adaptive limit.
    A job's own `max_connections` wins over this."""

    harness_processes: int | None = Field(default=None, ge=1, le=64)
    """inspect-ai processes a job's samples are split over, against its one model server; None:
    one per core while each gets at least 1000 samples (one inspect-ai process drives ~50
    samples/s here, far less than a GPU server answers)."""

    max_shards: int = Field(default=8, ge=1, le=64)
    """Runners one job may fan out over (`shards:` in the job): more is refused at submit."""

    samples_per_shard: int | None = Field(default=None, ge=1)
    """A job that names no `shards` gets one runner per this many samples (up to `max_shards`);
    None: one runner per job unless the job asks for more."""

    shard_retries: int = Field(default=1, ge=0, le=5)
    """Times a failed shard of a fanned-out job runs again, alone, before the job fails."""

    vllm_max_num_seqs: int | None = Field(default=None, ge=1)
    """Sequences one vLLM replica batches (`--max-num-seqs`, passed only when set); None: vLLM
    0.32's default for the hardware (1024 on 70 GiB+ GPUs, 256 on smaller ones, 128 on CPU)."""

    log_buffer: int = Field(default=100, ge=1, le=1000)
    """Scored samples a runner holds before writing them to its eval log (each write rewrites the
    whole log, so 1 makes a large benchmark's writes quadratic). A killed runner loses none of
    them: each scored sample is in inspect-ai's sample buffer at once, and the resumed run
    recovers it from there (a local database on the same host; `log_shared` on another)."""

    log_shared: int | None = Field(default=None, ge=1, le=600)
    """Seconds between syncs of inspect-ai's sample buffer into the job's log dir, where a runner
    on another host (a preempted Modal input's new container) recovers scored samples from;
    None: the buffer stays on this host (the local worker pool resumes on the same machine)."""

    sinks_retry_after_s: float = Field(default=3600.0, ge=60)
    """Seconds after a job ended before the result sinks it still owes (their process was killed)
    run again, from the Modal tick or the local worker pool: longer than a sinks run takes (the
    `finish` function's timeout), so a slow one is not doubled."""

    volume_commit_s: float = Field(default=15.0, ge=1, le=600)
    """Seconds between a Modal runner's commits of its Volumes while a job runs: a preempted
    job's new container redoes at most about this much work plus `log_shared` (each commit
    costs a round trip to Modal's storage, so a few seconds is the floor worth setting)."""

    workers: int = Field(default=1, ge=0)
    """Jobs `evaljobs serve`'s local worker pool runs at once (each starts its own vLLM server)."""

    event_webhook_urls: str = ""
    """Comma-separated URLs that receive each completion event (signed POST, retried)."""

    event_webhook_secret: str | None = None
    """HMAC-SHA256 key of the `X-Evaljobs-Signature` header on outgoing events."""

    event_sns_topic_arn: str | None = None
    """SNS topic that receives each completion event."""

    event_sqs_queue_url: str | None = None
    """SQS queue that receives each completion event."""

    event_bus: str | None = None
    """EventBridge bus that receives each completion event."""

    eval_logs_bucket: str | None = None
    """S3 bucket the runner copies each job's eval logs and job log to (`jobs/<id>/…`)."""

    policies_file: Path | None = None
    """Evaluation policies (YAML) that `evaljobs serve` loads at start."""

    @property
    def db_path(self) -> Path:
        """The SQLite registry file."""
        return self.home / "registry.sqlite3"

    @property
    def jobs_dir(self) -> Path:
        """Per-job folders (log, eval logs, W&B run files)."""
        return self.home / "jobs"

    @property
    def models_dir(self) -> Path:
        """Cache of resolved model checkpoints."""
        return self.model_cache or (self.home / "models")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings instance."""
    return Settings()
