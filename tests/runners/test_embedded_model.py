from pathlib import Path


def test_embedded_checkpoint_is_complete_and_adds_bos(embedded_model: Path) -> None:
    from transformers import AutoTokenizer

    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert (embedded_model / name).exists(), name
    tokenizer = AutoTokenizer.from_pretrained(str(embedded_model))
    ids = tokenizer("Question: why?")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and ids.count(tokenizer.bos_token_id) == 1
