"""Checkpoints: resolve a uri to a local folder, then preflight it before any server starts.

Preflight answers, from files alone: is this a vLLM-compatible checkpoint (config.json with
a supported architecture, safetensors weights, a tokenizer)? Which dtype will vLLM run, and
how large are the weight files it loads, in that dtype? Do weights plus the KV cache for
max_model_len fit under the memory cap? Does it have a chat template, and if not, which one
will the runner supply?
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaljobs.errors import CheckpointError
from evaljobs.records import ModelArtifact
from evaljobs.records import Preflight as PreflightRecord
from evaljobs.spec import CheckpointModel
from evaljobs.tenancy import WANDB_ARTIFACT

__all__ = [
    "DEFAULT_CHAT_TEMPLATE",
    "Preflight",
    "Resolved",
    "is_wandb_artifact",
    "preflight",
    "resolve_checkpoint",
    "serving_dtype",
    "weight_files",
]

GB = 1024**3
_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}

DEFAULT_CHAT_TEMPLATE = Path(__file__).with_name("templates") / "base_model.jinja"
"""Plain-text template for base models with none: messages joined by blank lines."""


def is_wandb_artifact(uri: str) -> bool:
    """`entity/project/name:alias` (optionally `wandb-artifact://…`) and not a local path."""
    return bool(WANDB_ARTIFACT.match(uri)) and not Path(uri).exists()


@dataclass(frozen=True)
class Resolved:
    """A checkpoint uri made local."""

    path: Path
    """The folder holding the checkpoint."""
    artifact: ModelArtifact | None = None
    """The W&B artifact version it came from, when it is one."""


def resolve_checkpoint(uri: str, cache_dir: Path, artifact_source: str = "wandb") -> Resolved:
    """A local folder holding the checkpoint named by `uri`.

    W&B artifacts come from W&B (`artifact_source="wandb"`) or a local mirror folder; either
    way the alias is resolved to the version it names now.
    """
    if uri.startswith("s3://"):
        from runners.artifacts import download_s3_prefix

        return Resolved(download_s3_prefix(uri, cache_dir))
    if is_wandb_artifact(uri):
        from runners.artifacts import download_wandb_artifact, mirrored_wandb_artifact

        name = uri.removeprefix("wandb-artifact://")
        if artifact_source != "wandb":
            return Resolved(*mirrored_wandb_artifact(name, Path(artifact_source)))
        return Resolved(*download_wandb_artifact(name, cache_dir))
    path = Path(uri.removeprefix("file://")).expanduser()
    if not path.exists():
        raise CheckpointError(
            f"checkpoint folder {path} does not exist; give a folder, s3:// prefix or W&B artifact path"
        )
    if not path.is_dir():
        raise CheckpointError(
            f"{path} is a file; a checkpoint is a folder with config.json and *.safetensors"
        )
    return Resolved(path.resolve())


@dataclass(frozen=True)
class Preflight:
    """What preflight learned about a checkpoint."""

    path: Path
    architecture: str
    weights_bytes: int
    kv_cache_bytes: int
    dtype: str
    chat_template: Path | None
    """Template the server is started with; None keeps the checkpoint's own."""
    template_source: str
    """checkpoint, job, or default."""
    config: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def total_gb(self) -> float:
        """Weights plus KV cache, in GiB."""
        return (self.weights_bytes + self.kv_cache_bytes) / GB

    def as_record(self) -> PreflightRecord:
        """What the registry keeps."""
        return PreflightRecord(
            architecture=self.architecture,
            weights_gb=round(self.weights_bytes / GB, 3),
            kv_cache_gb=round(self.kv_cache_bytes / GB, 3),
            total_gb=round(self.total_gb, 3),
            dtype=self.dtype,
            chat_template=self.template_source,
        )


def _supported_architectures() -> set[str] | None:
    try:
        from vllm.model_executor.models import ModelRegistry
    except ImportError:  # a functions-only install has no vLLM; the runner checks again
        return None
    return set(ModelRegistry.get_supported_archs())


def _text_config(config: dict[str, Any]) -> dict[str, Any]:
    return config.get("text_config") or config


def serving_dtype(requested: str, config: dict[str, Any]) -> str:
    """The dtype the server runs: the job's, or what vLLM 0.32's `--dtype auto` picks on the GPU.

    vLLM (`_resolve_auto_dtype` in vllm/config/model.py) keeps a float16 or bfloat16 checkpoint's
    dtype and downcasts float32 (and a config that declares none) to the platform's first
    supported dtype: bfloat16 on Ampere and newer GPUs and on x86 CPUs (float16 only on
    pre-Ampere GPUs, which the runner does not use). It is passed explicitly, so the server and
    the memory preflight agree.
    """
    if requested != "auto":
        return requested
    declared = _declared_dtype(config)
    return declared if declared in ("float16", "bfloat16") else "bfloat16"


def _declared_dtype(config: dict[str, Any]) -> str | None:
    text = _text_config(config)
    for found in (config.get("torch_dtype"), config.get("dtype"), text.get("torch_dtype"), text.get("dtype")):
        if isinstance(found, str):
            return found
    return None


def loaded_weights_bytes(file_bytes: int, config: dict[str, Any], dtype: str) -> int:
    """Weights in memory once vLLM casts them to `dtype`: a float32 checkpoint served in bfloat16
    takes half its file size. Quantized or undeclared checkpoints count as stored."""
    stored = _declared_dtype(config)
    if stored is None or stored not in _DTYPE_BYTES or "quantization_config" in config:
        return file_bytes
    return file_bytes * _DTYPE_BYTES[dtype] // _DTYPE_BYTES[stored]


def weight_files(path: Path) -> list[Path]:
    """The safetensors files vLLM 0.32 loads from a local folder (`DefaultModelLoader._prepare_weights`).

    Mistral-format `consolidated*.safetensors` win when present (load format `auto`), else every
    `*.safetensors`; when the format's index file exists (`consolidated.safetensors.index.json`
    or `model.safetensors.index.json`), only the files its weight_map names. So a consolidated
    file beside the sharded ones (as Mistral repos ship them) is not counted twice.
    """
    files = sorted(path.glob("consolidated*.safetensors"))
    index = path / "consolidated.safetensors.index.json"
    if not files:
        files = sorted(path.glob("*.safetensors"))
        index = path / "model.safetensors.index.json"
    if not index.is_file():
        return files
    try:
        named = {path / name for name in json.loads(index.read_text())["weight_map"].values()}
    except (json.JSONDecodeError, KeyError, AttributeError, TypeError) as exc:
        raise CheckpointError(f"{index} is not a safetensors index with a weight_map: {exc}") from exc
    missing = sorted(p.name for p in named - set(files))
    if missing:
        raise CheckpointError(
            f"{index.name} names weight files the folder lacks ({', '.join(missing[:5])}); "
            "upload every shard the index lists"
        )
    return [f for f in files if f in named]


def kv_cache_bytes(config: dict[str, Any], max_model_len: int, dtype: str) -> int:
    """KV cache for one sequence of max_model_len tokens: 2 × layers × kv_heads × head_dim × len × bytes."""
    text = _text_config(config)
    layers = int(text.get("num_hidden_layers", 0))
    heads = int(text.get("num_attention_heads", 1))
    kv_heads = int(text.get("num_key_value_heads", heads))
    head_dim = int(text.get("head_dim") or text.get("hidden_size", 0) // max(heads, 1))
    return 2 * layers * kv_heads * head_dim * max_model_len * _DTYPE_BYTES[dtype]


def _has_chat_template(path: Path) -> bool:
    if (path / "chat_template.jinja").exists() or (path / "chat_template.json").exists():
        return True
    tok_config = path / "tokenizer_config.json"
    return tok_config.exists() and bool(json.loads(tok_config.read_text()).get("chat_template"))


def _job_template(text: str, work_dir: Path) -> Path:
    candidate = Path(text).expanduser()
    if "\n" not in text and "{" not in text and candidate.exists():
        return candidate.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    target = work_dir / "chat_template.jinja"
    target.write_text(text)
    return target


def preflight(
    path: Path, model: CheckpointModel, cap_gb: float, work_dir: Path, *, check_architecture: bool = True
) -> Preflight:
    """Check the checkpoint folder; raise CheckpointError saying what is missing or too big."""
    config_file = path / "config.json"
    if not config_file.exists():
        raise CheckpointError(
            f"{path} has no config.json: it is not a Hugging Face/vLLM checkpoint "
            "(save it with save_pretrained, or point uri at the folder that has config.json)"
        )
    try:
        config = json.loads(config_file.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{config_file} is not valid JSON: {exc}") from exc
    archs = config.get("architectures") or []
    if not archs:
        raise CheckpointError(
            f"{config_file} names no architectures; vLLM cannot tell which model class to load"
        )
    supported = _supported_architectures() if check_architecture else None
    if supported is not None and not any(a in supported for a in archs):
        raise CheckpointError(f"architecture {archs[0]} is not supported by the installed vLLM")
    weights = weight_files(path)
    if not weights:
        raise CheckpointError(
            f"{path} has no *.safetensors weights; "
            "convert .bin/.pt weights with save_pretrained(safe_serialization=True)"
        )
    if not any((path / n).exists() for n in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")):
        raise CheckpointError(
            f"{path} has no tokenizer (tokenizer.json or tokenizer.model); "
            "save the tokenizer next to the weights"
        )
    dtype = serving_dtype(model.dtype, config)
    weights_bytes = loaded_weights_bytes(sum(w.stat().st_size for w in weights), config, dtype)
    kv_bytes = kv_cache_bytes(config, model.max_model_len, dtype)
    if model.chat_template:
        template, source = _job_template(model.chat_template, work_dir), "job"
    elif _has_chat_template(path):
        template, source = None, "checkpoint"
    else:
        template, source = DEFAULT_CHAT_TEMPLATE, "default"
    result = Preflight(path, archs[0], weights_bytes, kv_bytes, dtype, template, source, config)
    if result.total_gb > cap_gb:
        raise CheckpointError(
            f"weights ({weights_bytes / GB:.1f} GiB) plus KV cache for max_model_len "
            f"{model.max_model_len} ({kv_bytes / GB:.1f} GiB) need {result.total_gb:.1f} GiB, "
            f"over the {cap_gb:g} GiB cap: lower max_model_len or use a smaller model"
        )
    return result
