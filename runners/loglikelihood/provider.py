"""The model layer log-likelihood scoring talks through: inspect-ai's completions provider.

inspect-ai's `openai-api-completions` provider sends raw prompts (text or token ids) to an
OpenAI-compatible `/v1/completions` endpoint and returns vLLM's `prompt_logprobs`, through
inspect-ai's `Model.generate`: its connection limits, retries, usage accounting, model events
and the sample viewer see every request like any generation. What it lacks is the server's
tokenizer, which scoring needs to split a prompt into context and continuation tokens exactly
as lm-evaluation-harness does, and the token ids of prompt log-probabilities (it keeps only
their decoded text, and two ids can decode alike). `served-completions` is that provider plus:

- `tokenize()` through vLLM's `/tokenize` endpoint, with the special-token choice explicit;
- with `extra_body={"return_tokens_as_token_ids": True}`, prompt log-probabilities named
  `token_id:N` as vLLM names sampled ones under that flag (it does not for prompt ones);
- several prompts in one request (`metadata["prompt_token_id_lists"]`, a list of token-id
  lists; the endpoint takes a list of prompts, inspect-ai's provider sends one): a choice per
  prompt, in order. vLLM runs each prompt as its own request, so their values are those of a
  request per prompt; inspect-ai's per-call work (and its model event) is paid once.

(inspect-ai's `vllm-completions` provider has `tokenize()`, but it shares one server entry
per base-model name across the process: a second job in the same process whose server
listens on another port would be sent to the first one's.)
"""

from __future__ import annotations

import asyncio
from typing import Any

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
from inspect_ai.model._providers.openai_compatible_completions import (
    OpenAICompatibleCompletionsAPI,
    generate_raw_completions,
)
from inspect_ai.tool import ToolChoice, ToolInfo

__all__ = ["PROVIDER", "ServedCompletionsAPI", "completions_model"]

PROVIDER = "served-completions"


class ServedCompletionsAPI(OpenAICompatibleCompletionsAPI):
    """`openai-api-completions` with the served model's tokenizer (vLLM's `/tokenize`)."""

    def _tokenize_client(self) -> httpx.AsyncClient:
        clients: dict[int, httpx.AsyncClient] = self.__dict__.setdefault("_tokenize_clients", {})
        key = id(asyncio.get_running_loop())  # an httpx pool belongs to one event loop
        if key not in clients:
            clients[key] = httpx.AsyncClient(timeout=60)
        return clients[key]

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
        prompts = _prompt_lists(input)
        if prompts is None:
            result = await super().generate(input, tools, tool_choice, config)
        else:
            result = await generate_raw_completions(self, prompts, config)  # type: ignore[arg-type]
            output = result[0] if isinstance(result, tuple) else result
            if isinstance(output, ModelOutput) and len(output.choices) != len(prompts):
                raise RuntimeError(f"{len(prompts)} prompts sent, {len(output.choices)} choices back")
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


def _prompt_lists(input: list[ChatMessage]) -> list[list[int]] | None:
    """The token-id prompts of a several-prompt request; None for inspect-ai's one prompt."""
    lists = (input[0].metadata or {}).get("prompt_token_id_lists") if len(input) == 1 else None
    if lists is None:
        return None
    if not (
        isinstance(lists, list)
        and lists
        and all(isinstance(p, list) and p and all(isinstance(t, int) for t in p) for p in lists)
    ):
        raise TypeError(f"{PROVIDER}: metadata['prompt_token_id_lists'] must be a list of token-id lists")
    return lists


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
