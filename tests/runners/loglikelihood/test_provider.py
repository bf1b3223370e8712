"""The completions provider's tokenizer choice: the checkpoint's own only where it is safe and agrees."""

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from inspect_ai.model import get_model
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from runners.loglikelihood.provider import ServedCompletionsAPI


def _tokenizer_folder(tmp_path: Path) -> tuple[Path, PreTrainedTokenizerFast]:
    words = ["<unk>", "<bos>", "a", "b", "yes"]
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", bos_token="<bos>")
    folder = tmp_path / "checkpoint"
    tokenizer.save_pretrained(folder)
    return folder, tokenizer


def _api(base_url: str, root: Path, server_ids: Any, calls: list[str]) -> ServedCompletionsAPI:
    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "m", "root": str(root)}]})
        body = json.loads(request.content)
        return httpx.Response(200, json={"tokens": server_ids(body["prompt"], body["add_special_tokens"])})

    api: Any = get_model("served-completions/vllm/m", base_url=base_url, api_key="k", memoize=False).api
    client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    api._tokenize_client = lambda: client
    return api  # type: ignore[no-any-return]


def test_a_local_servers_checkpoint_tokenizes_here(tmp_path: Path) -> None:
    folder, tokenizer = _tokenizer_folder(tmp_path)
    calls: list[str] = []
    same = lambda text, special: tokenizer(text, add_special_tokens=special)["input_ids"]  # noqa: E731
    api = _api("http://127.0.0.1:8000/v1", folder, same, calls)
    ids = asyncio.run(api.tokenize_all(["a b", "b a yes"], add_special_tokens=False))
    assert ids == [same("a b", False), same("b a yes", False)]
    assert calls == ["/v1/models", "/tokenize", "/tokenize"]  # the folder, then the probe both ways


def test_a_tokenizer_that_disagrees_with_the_server_is_not_used(tmp_path: Path) -> None:
    folder, tokenizer = _tokenizer_folder(tmp_path)
    calls: list[str] = []
    other = lambda text, special: [7] + tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    api = _api("http://localhost:8000/v1", folder, other, calls)
    ids = asyncio.run(api.tokenize_all(["a b", "b a"], add_special_tokens=True))
    assert ids == [other("a b", True), other("b a", True)]
    assert calls.count("/tokenize") == 1 + 2  # the probe (it parts at once), then every text


def test_a_remote_servers_root_is_never_read(tmp_path: Path) -> None:
    """A tenant's server names a folder of ours as its root: it is not opened."""
    folder, tokenizer = _tokenizer_folder(tmp_path)
    calls: list[str] = []
    same = lambda text, special: tokenizer(text, add_special_tokens=special)["input_ids"]  # noqa: E731
    api = _api("https://models.example.com/v1", folder, same, calls)
    asyncio.run(api.tokenize_all(["a b"], add_special_tokens=True))
    assert calls == ["/tokenize"]


@pytest.mark.parametrize("root", ["/nonexistent/folder", None])
def test_a_root_that_is_not_a_folder_here_means_the_servers_tokenizer(tmp_path: Path, root: Any) -> None:
    calls: list[str] = []
    api = _api("http://[::1]:8000/v1", Path(str(root)), lambda text, special: [1, 2], calls)
    assert asyncio.run(api.tokenize_all(["a"], add_special_tokens=True)) == [[1, 2]]
    assert calls == ["/v1/models", "/tokenize"]
