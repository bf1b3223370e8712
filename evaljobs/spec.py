"""The evaluation job, as users write it (YAML or JSON).

These pydantic models are the source of truth: `schemas/eval-job.schema.json` is
generated from them (`evaljobs schema`) and a test fails when the committed copy drifts.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import to_json

__all__ = [
    "LOCAL_ENTITY",
    "MAX_ARGS_BYTES",
    "MAX_BENCHMARKS",
    "SECRET_REF",
    "ApiModel",
    "ApiModelRef",
    "BenchmarkRef",
    "CheckpointModel",
    "CheckpointModelRef",
    "GenerationSettings",
    "GraderModel",
    "JobSecrets",
    "JobSpec",
    "SecretRef",
]

LOCAL_ENTITY = "local"
"""The entity of a job that names none: a placeholder, never sent to W&B as an entity."""
MAX_BENCHMARKS = 200
"""Benchmarks one job may list: more than the catalog holds, few enough to refuse a flood early."""
MAX_SHARDS = 64
"""Runners one job may fan out over (the deployment's `max_shards` setting may allow fewer)."""
MAX_ARGS_BYTES = 16 * 1024
"""A benchmark's task arguments, serialised as JSON (a size no JSON Schema keyword expresses)."""

# Every string a tenant writes is bounded; the bounds are in the JSON Schema, so the
# committed schema refuses an oversized value before pydantic or the catalog sees it.
Id = Annotated[str, Field(min_length=1, max_length=128)]
Url = Annotated[str, Field(max_length=2048, pattern=r"^https?://")]
ModelName = Annotated[str, Field(max_length=256, pattern=r"^[A-Za-z0-9_.-]+/.+$")]
Name = Annotated[str, Field(max_length=200, pattern=r"^[A-Za-z0-9_.-]+$")]

# The length bound is in the pattern, not a maxLength: a pattern error never echoes the value
# (it may be the secret itself), a maxLength error would.
SECRET_REF = r"^secret://[A-Za-z_][A-Za-z0-9_]{0,127}$"
SecretRef = Annotated[
    str,
    Field(
        pattern=SECRET_REF,
        description="A reference to a secret by name, `secret://NAME`; never the value itself.",
        examples=["secret://OPENAI_API_KEY"],
    ),
]


def _items_within_bound(schema: dict[str, Any]) -> None:
    """Check a list's items only when the list is within its maxItems.

    A JSON Schema validator checks every item before it reports a list too long (20,000
    benchmark ids took 0.2 s); under `if`/`then` a list over the bound costs one length test.
    """
    schema["if"] = {"maxItems": schema["maxItems"]}
    schema["then"] = {"items": schema.pop("items")}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class CheckpointModel(_Strict):
    """A vLLM-compatible checkpoint served by the runner."""

    uri: str = Field(min_length=1, max_length=2048)
    """Local folder, `file://` path, `s3://bucket/prefix`, or W&B artifact `entity/project/name:alias`."""
    served_name: str | None = Field(default=None, max_length=200)
    """Model name the server exposes and the leaderboard shows; defaults to the uri's last part."""
    max_model_len: int = Field(default=2048, ge=128, le=1_048_576)
    """Context length the server reserves KV cache for (prompt plus output)."""
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    """Weights and activation dtype."""
    chat_template: str | None = Field(default=None, max_length=64 * 1024)
    """Jinja chat template (text, or a path to a file) overriding the checkpoint's own."""
    gpus: int = Field(default=2, ge=1, le=2)
    """GPUs the runner uses (cloud): 2 = replicas or tensor parallel as the plan decides; ignored on CPU."""
    parallelism: Literal["auto", "tensor", "data"] = "auto"
    """How two GPUs are used; `auto` picks data parallel when the model fits on one."""
    tool_calling: bool = False
    """Serve with automatic tool choice, required by agentic benchmarks."""
    tool_call_parser: str | None = Field(default=None, max_length=128)
    """vLLM tool-call parser for the model's tool-call format (e.g. `hermes`); required with tool_calling."""


class CheckpointModelRef(_Strict):
    """Model under test: a checkpoint."""

    checkpoint: CheckpointModel


class ApiPricing(_Strict):
    """What the provider charges, for the job's cost estimate (USD per million tokens)."""

    input_per_mtok_usd: float = Field(ge=0)
    """A million prompt tokens."""
    output_per_mtok_usd: float = Field(ge=0)
    """A million completion tokens."""


class ApiModel(_Strict):
    """An OpenAI-compatible hosted model, in inspect-ai provider form."""

    model: ModelName
    """inspect-ai model name, e.g. `openai/gpt-4o-mini`, `openai-api/together/meta-llama/…`."""
    base_url: Url | None = None
    """API base URL; providers know their own when absent."""
    api_key: SecretRef | None = None
    """The API key, by reference."""
    pricing: ApiPricing | None = None
    """Prices for the cost estimate; without them the cost is reported as unknown."""


class ApiModelRef(_Strict):
    """Model under test: a hosted API."""

    api: ApiModel


class BenchmarkRef(_Strict):
    """One benchmark of the catalog, with optional task arguments."""

    id: Id
    """Catalog id (see `evaljobs catalog`)."""
    args: dict[str, Any] = Field(default_factory=dict, max_length=64)
    """Keyword arguments for the inspect_evals task (at most 64, 16 KiB as JSON)."""
    limit: int | None = Field(default=None, ge=1)
    """Samples for this benchmark; overrides the job's limit."""
    scoring: Literal["generate", "loglikelihood"] | None = None
    """`generate` (the inspect_evals task as is) or `loglikelihood`; absent follows the job."""
    fewshot: int | None = Field(default=None, ge=0, le=25)
    """Few-shot examples in loglikelihood scoring; absent uses the benchmark's default."""

    @field_validator("args", mode="after")
    @classmethod
    def _args_size(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            size = len(to_json(value))
        except ValueError as exc:  # too deeply nested, or not JSON at all
            raise ValueError("args must be plain JSON values (mappings, lists, strings, numbers)") from exc
        if size > MAX_ARGS_BYTES:
            raise ValueError(
                f"args take {size // 1024} KiB as JSON, more than the {MAX_ARGS_BYTES // 1024} KiB allowed; "
                "pass large inputs to the task by file or dataset instead"
            )
        return value


class GenerationSettings(_Strict):
    """Generation settings applied to every benchmark."""

    temperature: float | None = Field(default=None, ge=0, le=2)
    """Sampling temperature; absent keeps each task's own."""
    max_tokens: int | None = Field(default=None, ge=1)
    """Maximum output tokens per generation."""
    top_p: float | None = Field(default=None, gt=0, le=1)
    """Nucleus sampling."""
    seed: int | None = None
    """Sampling seed, recorded with the job."""


class GraderModel(_Strict):
    """The model that grades model-graded benchmarks (never the model under test by default)."""

    model: ModelName
    """inspect-ai model name of the grader."""
    base_url: Url | None = None
    """API base URL of the grader."""
    api_key: SecretRef | None = None
    """The grader's API key, by reference."""
    pricing: ApiPricing | None = None
    """The grader's prices, for the cost estimate of its tokens (counted apart from the model's)."""


class JobSecrets(_Strict):
    """Secrets the job may need, by reference."""

    hf_token: SecretRef | None = None
    """Hugging Face token for gated datasets."""
    scorer_api_key: SecretRef | None = None
    """API key of the default (OpenAI) scorer used by model-graded benchmarks."""


class JobSpec(_Strict):
    """An evaluation job: one model, any number of benchmarks."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
        title="EvalJob",
        json_schema_extra={"$id": "https://evaljobs.dev/schemas/eval-job.schema.json"},
    )

    name: str | None = Field(default=None, max_length=200)
    """Human-readable job name."""
    entity: Name = LOCAL_ENTITY
    """Destination W&B entity (team or user); `local` (the default) names none, and W&B runs
    and Weave go to `WANDB_ENTITY` or the API key's default entity."""
    project: Name = "evaljobs"
    """Destination project: W&B project and leaderboard."""
    model: CheckpointModelRef | ApiModelRef
    """The model under test: `{checkpoint: {...}}` or `{api: {...}}`."""
    benchmarks: list[Id | BenchmarkRef] = Field(
        min_length=1, max_length=MAX_BENCHMARKS, json_schema_extra=_items_within_bound
    )
    """Catalog ids (strings) or `{id, args, limit}` objects; at most 200, more than the catalog holds."""
    limit: int | None = Field(default=None, ge=1)
    """Samples per benchmark; absent means every sample (never a silent default)."""
    epochs: int = Field(default=1, ge=1, le=100)
    """Times each sample is run."""
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    """Generation settings."""
    grader: GraderModel | None = None
    """Grader for model-graded benchmarks."""
    secrets: JobSecrets = Field(default_factory=JobSecrets)
    """Secret references the benchmarks need."""
    leaderboard: bool = True
    """Add one row per benchmark to the project's leaderboard."""
    max_connections: int | None = Field(default=None, ge=1, le=1024)
    """Concurrent requests to the model. A served checkpoint: this many (absent: what its server
    batches at once, `max_num_seqs` × replicas). A hosted API: the ceiling of inspect-ai's
    adaptive concurrency (absent: inspect-ai's own, 100)."""
    shards: int | None = Field(default=None, ge=1, le=MAX_SHARDS)
    """Runners the job fans out over: each serves the model and scores its part of every
    benchmark's samples, and the parts merge into one result per benchmark. Absent: one, or
    one per `samples_per_shard` samples when the deployment sets that; at most its `max_shards`."""
    retries: int = Field(default=2, ge=0, le=10)
    """Times inspect-ai retries a failed benchmark (resuming from its samples)."""
    scoring: Literal["auto", "generate", "loglikelihood"] = "auto"
    """Default scoring mode; `auto` uses loglikelihood for checkpoints without a chat template."""
    fewshot_seed: int = 1234
    """Seed that draws few-shot examples (recorded with the job)."""
    baseline: str | None = Field(default=None, pattern=r"^(job-[0-9a-f]{12}|project)$")
    """Compare the results with this job (`job-…`), or with the project's latest succeeded job (`project`)."""
    regression_threshold: float = Field(default=0.01, ge=0, le=1)
    """Smallest paired difference that counts as a regression or improvement against the baseline."""

    @field_validator("benchmarks", mode="after")
    @classmethod
    def _unique(cls, value: list[str | BenchmarkRef]) -> list[str | BenchmarkRef]:
        seen: set[str] = set()
        dup: set[str] = set()
        for bench in value:
            i = bench if isinstance(bench, str) else bench.id
            (dup if i in seen else seen).add(i)
        if dup:
            names = sorted(dup)
            more = f" and {len(names) - 5} more" if len(names) > 5 else ""
            raise ValueError(f"benchmark(s) listed twice: {', '.join(names[:5])}{more}; list each once")
        return value

    @model_validator(mode="after")
    def _tool_parser(self) -> JobSpec:
        ckpt = self.checkpoint
        if ckpt and ckpt.tool_call_parser and not ckpt.tool_calling:
            raise ValueError("tool_call_parser is set but tool_calling is false")
        return self

    @property
    def checkpoint(self) -> CheckpointModel | None:
        """The checkpoint, when the model under test is one."""
        return self.model.checkpoint if isinstance(self.model, CheckpointModelRef) else None

    @property
    def api(self) -> ApiModel | None:
        """The hosted API model, when the model under test is one."""
        return self.model.api if isinstance(self.model, ApiModelRef) else None

    def benchmark_refs(self) -> list[BenchmarkRef]:
        """Benchmarks as objects, strings expanded."""
        return [BenchmarkRef(id=b) if isinstance(b, str) else b for b in self.benchmarks]

    def display_model(self) -> str:
        """A short model name for tables and run names."""
        if self.api:
            return self.api.model
        assert self.checkpoint is not None
        if self.checkpoint.served_name:
            return self.checkpoint.served_name
        # the last path part: a folder's name, or `name:alias` of a W&B artifact
        return self.checkpoint.uri.rstrip("/").rsplit("/", 1)[-1] or self.checkpoint.uri

    def secret_refs(self) -> dict[str, str]:
        """Every secret reference in the job, by JSON pointer."""
        refs: dict[str, str] = {}
        if self.api and self.api.api_key:
            refs["/model/api/api_key"] = self.api.api_key
        if self.grader and self.grader.api_key:
            refs["/grader/api_key"] = self.grader.api_key
        if self.secrets.hf_token:
            refs["/secrets/hf_token"] = self.secrets.hf_token
        if self.secrets.scorer_api_key:
            refs["/secrets/scorer_api_key"] = self.secrets.scorer_api_key
        return refs
