"""Shared fixtures. Tests run offline; benchmark data comes from ../shared/datasets."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("EVALJOBS_TEST_DATASETS", REPO.parent / "shared" / "datasets")).resolve()

# inspect_evals reads this once at import: point it at a private cache before anything imports it.
os.environ.setdefault("INSPECT_EVALS_CACHE_DIR", tempfile.mkdtemp(prefix="evaljobs-test-ie-cache-"))
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.pop("WANDB_API_KEY", None)


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    assert (DATASETS / "MANIFEST.json").exists(), f"offline datasets not found at {DATASETS}"
    return DATASETS


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, datasets_dir: Path) -> Iterator[Path]:
    """A fresh EVALJOBS_HOME with the offline datasets and W&B offline."""
    from evaljobs.settings import get_settings

    home = tmp_path / "home"
    monkeypatch.setenv("EVALJOBS_HOME", str(home))
    monkeypatch.setenv("EVALJOBS_DATASET_SOURCE", str(datasets_dir))
    monkeypatch.setenv("EVALJOBS_WANDB_MODE", "offline")
    monkeypatch.setenv("EVALJOBS_MODEL_CACHE", str(REPO / ".evaljobs" / "models"))
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def embedded_model() -> Path:
    """The embedded Gemma 3 270M checkpoint (built once, cached in the repo's .evaljobs)."""
    from runners.embedded_model import EMBEDDED_MODEL_NAME, prepare_embedded_model

    return prepare_embedded_model(REPO / ".evaljobs" / "models" / EMBEDDED_MODEL_NAME)


@pytest.fixture(scope="session")
def instruct_model() -> Path:
    """The embedded SmolLM2 135M Instruct checkpoint (built once, cached in the repo's .evaljobs)."""
    from runners.embedded_model import INSTRUCT_MODEL_NAME, prepare_embedded_model

    folder = REPO / ".evaljobs" / "models" / INSTRUCT_MODEL_NAME
    return prepare_embedded_model(folder, name=INSTRUCT_MODEL_NAME)


def write_checkpoint(
    folder: Path, *, layers: int = 2, weights_bytes: int = 1024, config: dict | None = None
) -> Path:
    """A folder shaped like a checkpoint (config, safetensors, tokenizer) with placeholder weights."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = config or {
        "architectures": ["Gemma3ForCausalLM"],
        "num_hidden_layers": layers,
        "num_attention_heads": 4,
        "num_key_value_heads": 1,
        "head_dim": 256,
        "hidden_size": 640,
        "torch_dtype": "bfloat16",
    }
    (folder / "config.json").write_text(json.dumps(cfg))
    (folder / "model.safetensors").write_bytes(b"\0" * weights_bytes)
    (folder / "tokenizer.json").write_text("{}")
    return folder


@pytest.fixture(scope="module")
def instruct_server(instruct_model: Path) -> Iterator[object]:
    """A real vLLM CPU server with the instruct model (its own chat template, tool calling off),
    for one test module at a time: kept for the whole session it pushed later tests' servers
    (the sharded pool test's two) over the machine's memory, and the OOM killer took the shared
    `server`. 1 GiB of KV cache keeps it small beside `server`."""
    import dataclasses

    from runners.embedded_model import INSTRUCT_MODEL_NAME
    from runners.serving import embedded_server_options
    from runners.vllm_server import serve

    options = embedded_server_options(instruct_model, 4096, name=INSTRUCT_MODEL_NAME)
    with serve(dataclasses.replace(options, cpu_kv_cache_gib=1), log=lambda _: None, timeout_s=900) as info:
        yield info


@pytest.fixture(scope="session")
def server(embedded_model: Path) -> Iterator[object]:
    """One real vLLM CPU server with the embedded model, shared by the tests that need it."""
    from runners.serving import embedded_server_options
    from runners.vllm_server import serve

    with serve(embedded_server_options(embedded_model), log=lambda _: None, timeout_s=900) as info:
        yield info


@pytest.fixture(scope="session")
def aws_endpoint() -> Iterator[str]:
    """A moto server for the whole session, with fake credentials in the environment."""
    from tests.support.moto_server import FAKE_CREDENTIALS, moto_server

    saved = {k: os.environ.get(k) for k in FAKE_CREDENTIALS}
    os.environ.update(FAKE_CREDENTIALS)
    with moto_server() as url:
        yield url
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def stub() -> Iterator[str]:
    """The latency-modelled OpenAI-compatible stub (bench/stub_server.py), answering at once;
    yields its base URL. One per session: inspect-ai's vllm provider keeps the first base URL
    it saw for a model name for the rest of the process."""
    from bench.stub_server import running

    with running(0) as url:
        yield url
