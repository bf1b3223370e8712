"""The model layer log-likelihood scoring talks through: inspect-ai's completions provider.

inspect-ai's `openai-api-completions` provider sends raw prompts (text or token ids) to an
OpenAI-compatible `/v1/completions` endpoint and returns vLLM's `prompt_logprobs`, through
inspect-ai's `Model.generate`: its connection limits, retries, usage accounting, model events
and the sample viewer see every request like any generation. What it lacks is the server's
tokenizer, which scoring needs to split a prompt into context and continuation tokens exactly
as lm-evaluation-harness does, and the token ids of prompt log-probabilities (it keeps only
their decoded text, and two ids can decode alike). `served-completions` is that provider plus:

- `tokenize()` through vLLM's `/tokenize` endpoint, with the special-token choice explicit;
  `tokenize_all()` with the checkpoint's own tokenizer instead, when the server runs on this
  machine from a folder here (what `/v1/models` calls its root) and the two agree on a probe:
  one request per text less, as lm-evaluation-harness tokenizes locally too;
- with `extra_body={"return_tokens_as_token_ids": True}`, prompt log-probabilities named
  `token_id:N` as vLLM names sampled ones under that flag (it does not for prompt ones).

(inspect-ai's `vllm-completions` provider has `tokenize()`, but it shares one server entry
per base-model name across the process: a second job in the same process whose server
listens on another port would be sent to the first one's.)
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from inspect_ai.model import (
    ChatMessage,
    GenerateConfig,
    Logprob,
    Logprobs,
    Model,
    ModelAPI,
    ModelCall,
    ModelOutput,
    TopLogprob,
    get_model,
    modelapi,
)
from inspect_ai.model._providers.openai_compatible_completions import OpenAICompatibleCompletionsAPI
from inspect_ai.tool import ToolChoice, ToolInfo

__all__ = ["PROVIDER", "ServedCompletionsAPI", "completions_model"]

PROVIDER = "served-completions"

logger = logging.getLogger(__name__)

# Spaces, digits, punctuation, a newline, non-ASCII: where two tokenizers of one model would part.
_PROBE = "Question: Which is 3.14 − 2?\nAnswer:  1.14 (naïve) — yes"


class ServedCompletionsAPI(OpenAICompatibleCompletionsAPI):
    """`openai-api-completions` with the served model's tokenizer (vLLM's `/tokenize`)."""

    def _tokenize_client(self) -> httpx.AsyncClient:
        clients: dict[int, httpx.AsyncClient] = self.__dict__.setdefault("_tokenize_clients", {})
        key = id(asyncio.get_running_loop())  # an httpx pool belongs to one event loop
        if key not in clients:
            clients[key] = httpx.AsyncClient(timeout=60)
        return clients[key]

    async def tokenize_all(self, texts: list[str], add_special_tokens: bool = False) -> list[list[int]]:
        """Token ids of each text: with the checkpoint's tokenizer when it is here, else the server's."""
        local = await self._local_tokenizer()
        if local is not None:
            return [list(ids) for ids in local(texts, add_special_tokens=add_special_tokens)["input_ids"]]
        return list(await asyncio.gather(*(self.tokenize(t, add_special_tokens) for t in texts)))

    async def _local_tokenizer(self) -> Any | None:
        """The served checkpoint's tokenizer, loaded from its folder, if the server is local and agrees."""
        if "_local" in self.__dict__:
            return self.__dict__["_local"]
        locks: dict[int, asyncio.Lock] = self.__dict__.setdefault("_local_locks", {})
        async with locks.setdefault(id(asyncio.get_running_loop()), asyncio.Lock()):
            if "_local" not in self.__dict__:
                self.__dict__["_local"] = await self._load_local_tokenizer()
        return self.__dict__["_local"]

    async def _load_local_tokenizer(self) -> Any | None:
        # Only this machine's own server: a remote one's root names a folder of its machine, and
        # a tenant's server must not choose which of our folders gets read.
        if not _is_loopback(str(self.base_url)):
            return None
        root = await self._served_root()
        if root is None or not any((root / n).is_file() for n in ("tokenizer.json", "tokenizer_config.json")):
            return None
        from transformers import AutoTokenizer

        try:
            tokenizer = await asyncio.to_thread(AutoTokenizer.from_pretrained, str(root))
        except (OSError, ValueError) as exc:  # a folder that does not load: the server's still works
            logger.warning("tokenizing through the server: %s does not load here (%s)", root, exc)
            return None
        for special in (True, False):
            mine = tokenizer(_PROBE, add_special_tokens=special)["input_ids"]
            if mine != await self.tokenize(_PROBE, special):
                logger.warning("tokenizing through the server: %s tokenizes a probe differently", root)
                return None
        return tokenizer

    async def _served_root(self) -> Path | None:
        """The folder the server loaded the model from, as its `/v1/models` lists it."""
        response = await self._tokenize_client().get(
            f"{str(self.base_url).rstrip('/')}/models",
            headers={"Authorization": f"Bearer {self.api_key}"} if self.api_key else {},
        )
        if response.status_code != 200:
            return None
        models = response.json().get("data")
        entry = next(
            (m for m in models or [] if isinstance(m, dict) and m.get("id") == self.service_model_name()),
            None,
        )
        root = entry.get("root") if entry else None
        return Path(root) if isinstance(root, str) and Path(root).is_dir() else None

    async def tokenize(self, text: str, add_special_tokens: bool = False) -> list[int]:
        """Token ids of `text`; with `add_special_tokens` as the model's tokenizer adds them (BOS)."""
        root = str(self.base_url).rstrip("/").removesuffix("/v1")
        response = await self._tokenize_client().post(
            f"{root}/tokenize",
            json={
                "model": self.service_model_name(),
                "prompt": text,
                "add_special_tokens": add_special_tokens,
            },
            headers={"Authorization": f"Bearer {self.api_key}"} if self.api_key else {},
        )
        if response.status_code == 404:
            raise RuntimeError(
                f"{root} has no /tokenize endpoint: log-likelihood scoring needs a vLLM(-compatible) server"
            )
        response.raise_for_status()
        tokens = response.json().get("tokens")
        if not isinstance(tokens, list):
            raise RuntimeError(f"{root}/tokenize answered without a token list")
        return [int(t) for t in tokens]

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput | tuple[ModelOutput | Exception, ModelCall]:
        result = await super().generate(input, tools, tool_choice, config)
        if not (config.extra_body or {}).get("return_tokens_as_token_ids") or not isinstance(result, tuple):
            return result
        output, call = result
        raw = (call.response or {}).get("choices")
        if isinstance(output, ModelOutput) and isinstance(raw, list):
            ordered = sorted(raw, key=lambda c: int(c.get("index") or 0) if isinstance(c, dict) else 0)  # type: ignore[arg-type]
            for choice, raw_choice in zip(output.choices, ordered, strict=True):
                entries = raw_choice.get("prompt_logprobs") if isinstance(raw_choice, dict) else None
                if isinstance(entries, list):
                    choice.prompt_logprobs = _prompt_logprobs_by_id(entries)
        return output, call


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _prompt_logprobs_by_id(entries: list[Any]) -> Logprobs:
    """vLLM's prompt log-probabilities ({id: {logprob, ...}} per position, the prompt token first)."""
    content = []
    for entry in entries:
        if not entry:
            continue  # the first position has none
        items = [(f"token_id:{k}", float(v["logprob"])) for k, v in entry.items()]
        content.append(
            Logprob(
                token=items[0][0],
                logprob=items[0][1],
                top_logprobs=[TopLogprob(token=t, logprob=x) for t, x in items[1:]] or None,
            )
        )
    return Logprobs(content=content)


@modelapi(name=PROVIDER)
def _served_completions() -> type[ModelAPI]:
    return ServedCompletionsAPI


def completions_model(served_name: str, eval_model: Model) -> Model:
    """The completions model on the same server (and key) as the eval's model."""
    api: Any = eval_model.api
    if not api.base_url:
        raise ValueError(f"log-likelihood scoring needs the model server's base URL ({api.model_name})")
    return get_model(f"{PROVIDER}/vllm/{served_name}", base_url=str(api.base_url), api_key=str(api.api_key))
