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
