import json
from pathlib import Path

import pytest

from evaljobs.errors import CheckpointError
from evaljobs.spec import CheckpointModel
from runners.checkpoint import (
    DEFAULT_CHAT_TEMPLATE,
    is_wandb_artifact,
    kv_cache_bytes,
    preflight,
    resolve_checkpoint,
    serving_dtype,
    weight_files,
)
from tests.conftest import write_checkpoint


def check(path: Path, tmp_path: Path, **model: object) -> object:
    return preflight(
        path, CheckpointModel(uri=str(path), **model), 86.0, tmp_path / "work", check_architecture=False
    )


def test_kv_cache_arithmetic() -> None:
    cfg = {"num_hidden_layers": 18, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256}
    assert kv_cache_bytes(cfg, 2048, "bfloat16") == 2 * 18 * 1 * 256 * 2048 * 2


def test_base_model_gets_default_template_and_job_template_wins(tmp_path: Path) -> None:
    ckpt = write_checkpoint(tmp_path / "m")
    result = check(ckpt, tmp_path)
    assert result.chat_template == DEFAULT_CHAT_TEMPLATE and result.template_source == "default"
    custom = check(ckpt, tmp_path, chat_template="{{ messages[0]['content'] }}")
    assert custom.template_source == "job" and custom.chat_template.read_text().startswith("{{")


def test_checkpoint_with_template_keeps_it(tmp_path: Path) -> None:
    ckpt = write_checkpoint(tmp_path / "m")
    (ckpt / "tokenizer_config.json").write_text('{"chat_template": "{{ x }}"}')
    assert check(ckpt, tmp_path).template_source == "checkpoint"


@pytest.mark.parametrize(
    ("breakage", "needle"),
    [
        (lambda p: (p / "config.json").unlink(), "no config.json"),
        (lambda p: (p / "config.json").write_text("{not json"), "not valid JSON"),
        (lambda p: (p / "config.json").write_text("{}"), "names no architectures"),
        (lambda p: (p / "model.safetensors").unlink(), r"no \*\.safetensors"),
        (lambda p: (p / "tokenizer.json").unlink(), "no tokenizer"),
    ],
)
def test_not_a_checkpoint(tmp_path: Path, breakage: object, needle: str) -> None:
    ckpt = write_checkpoint(tmp_path / "m")
    breakage(ckpt)  # type: ignore[operator]
    with pytest.raises(CheckpointError, match=needle):
        check(ckpt, tmp_path)


def test_over_the_cap(tmp_path: Path) -> None:
    ckpt = write_checkpoint(tmp_path / "m", layers=400)
    with pytest.raises(CheckpointError, match="over the 86 GiB cap"):
        check(ckpt, tmp_path, max_model_len=262144)


def test_unsupported_architecture_with_real_vllm_registry(tmp_path: Path) -> None:
    ckpt = write_checkpoint(tmp_path / "m")
    (ckpt / "config.json").write_text('{"architectures": ["NoSuchModelForCausalLM"], "num_hidden_layers": 1}')
    with pytest.raises(CheckpointError, match="not supported by the installed vLLM"):
        preflight(ckpt, CheckpointModel(uri=str(ckpt)), 86.0, tmp_path)


def test_resolution(tmp_path: Path) -> None:
    ckpt = write_checkpoint(tmp_path / "m")
    assert resolve_checkpoint(f"file://{ckpt}", tmp_path).path == ckpt.resolve()
    with pytest.raises(CheckpointError, match="does not exist"):
        resolve_checkpoint(str(tmp_path / "missing"), tmp_path)
    assert is_wandb_artifact("team/proj/model:v3") and is_wandb_artifact(
        "wandb-artifact://team/proj/m:latest"
    )
    assert not is_wandb_artifact("/abs/path") and not is_wandb_artifact("s3://b/k")


def _shard(folder: Path, name: str, size: int) -> None:
    (folder / name).write_bytes(b"\0" * size)


def test_consolidated_file_beside_shards_is_counted_once(tmp_path: Path) -> None:
    # a Mistral repo: consolidated.safetensors and the same weights as HF shards
    ckpt = write_checkpoint(tmp_path / "m", weights_bytes=0)
    (ckpt / "model.safetensors").unlink()
    _shard(ckpt, "consolidated.safetensors", 4096)
    _shard(ckpt, "model-00001-of-00002.safetensors", 2048)
    _shard(ckpt, "model-00002-of-00002.safetensors", 2048)
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (ckpt / "model.safetensors.index.json").write_text(json.dumps(index))
    assert [p.name for p in weight_files(ckpt)] == ["consolidated.safetensors"]  # what vLLM loads
    assert check(ckpt, tmp_path).weights_bytes == 4096


def test_only_the_files_the_index_names_are_counted(tmp_path: Path) -> None:
    ckpt = write_checkpoint(tmp_path / "m", weights_bytes=8192)  # a stray model.safetensors
    _shard(ckpt, "model-00001-of-00001.safetensors", 1024)
    index = {"weight_map": {"a": "model-00001-of-00001.safetensors"}}
    (ckpt / "model.safetensors.index.json").write_text(json.dumps(index))
    assert check(ckpt, tmp_path).weights_bytes == 1024
    (ckpt / "model-00001-of-00001.safetensors").unlink()
    with pytest.raises(CheckpointError, match="names weight files the folder lacks"):
        check(ckpt, tmp_path)


@pytest.mark.parametrize(
    ("declared", "requested", "served"),
    [
        ("float32", "auto", "bfloat16"),  # vLLM's auto downcasts float32
        (None, "auto", "bfloat16"),  # undeclared counts as float32
        ("float16", "auto", "float16"),
        ("bfloat16", "auto", "bfloat16"),
        ("float32", "float32", "float32"),  # the job's explicit choice wins
    ],
)
def test_serving_dtype_is_what_vllm_auto_picks_on_a_gpu(
    declared: str | None, requested: str, served: str
) -> None:
    config = {} if declared is None else {"torch_dtype": declared}
    assert serving_dtype(requested, config) == served


def test_float32_checkpoint_is_preflighted_in_bfloat16(tmp_path: Path) -> None:
    config = {
        "architectures": ["LlamaForCausalLM"],
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 1,
        "head_dim": 64,
        "torch_dtype": "float32",
    }
    ckpt = write_checkpoint(tmp_path / "m", weights_bytes=4000, config=config)
    result = check(ckpt, tmp_path, max_model_len=1024)
    assert result.dtype == "bfloat16"
    assert result.weights_bytes == 2000  # float32 files, loaded as bfloat16
    assert result.kv_cache_bytes == kv_cache_bytes(config, 1024, "bfloat16")
