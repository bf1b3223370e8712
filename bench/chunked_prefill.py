"""Does vLLM's chunked prefill change a prompt's log-probabilities?

    python -m bench.chunked_prefill

Starts two Gemma 3 270M CPU servers with chunked prefill on: one with vLLM's step budget of
2048 tokens (the prompt is prefilled whole) and one with a budget of 128 (the prompt is
prefilled in 128-token pieces, as a long prompt is when other prompts fill the step). It sends
the same ~300-token prompt to each with `prompt_logprobs`, twice to the first, and prints how
many positions differ and by how much. evaljobs' servers run with chunked prefill off
(`runners/vllm_server.py`); docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import dataclasses
from contextlib import ExitStack
from pathlib import Path

import httpx

from runners.embedded_model import prepare_embedded_model
from runners.serving import embedded_server_options
from runners.vllm_server import ServerInfo, serve

REPO = Path(__file__).resolve().parents[1]
PASSAGE = (
    "The Vampire Diaries, an American supernatural drama, was renewed for an eighth season by The CW "
    "on March 11, 2016. On July 23, 2016, the CW announced that the upcoming season would be the "
    "series' last and would consist of 16 episodes. The season premiered on October 21, 2016 and "
    "concluded on March 10, 2017. "
)
PROMPT = PASSAGE * 3 + "\nQuestion: will there be a season 8 of vampire diaries?\nAnswer: yes"


def prompt_logprobs(server: ServerInfo) -> list[float]:
    """The prompt token's log-probability at every position after the first."""
    reply = httpx.post(
        f"{server.base_url}/completions",
        headers={"Authorization": f"Bearer {server.api_key}"},
        json={
            "model": server.model,
            "prompt": PROMPT,
            "max_tokens": 1,
            "temperature": 0,
            "prompt_logprobs": 1,
        },
        timeout=300,
    )
    reply.raise_for_status()
    positions = reply.json()["choices"][0]["prompt_logprobs"][1:]
    return [next(iter(p.values()))["logprob"] for p in positions]  # the prompt's own token comes first


def main() -> None:
    path = prepare_embedded_model(REPO / ".evaljobs" / "models" / "gemma-3-270m")
    whole = dataclasses.replace(embedded_server_options(path, 1024), chunked_prefill=True, cpu_kv_cache_gib=1)
    pieces = dataclasses.replace(whole, extra_args="--max-num-batched-tokens 128")
    with ExitStack() as stack:
        a, b = (stack.enter_context(serve(o, log=lambda _: None, timeout_s=900)) for o in (whole, pieces))
        first, again, chunked = prompt_logprobs(a), prompt_logprobs(a), prompt_logprobs(b)
    differing = [(i + 1, x, y) for i, (x, y) in enumerate(zip(first, chunked, strict=True)) if x != y]
    print(f"prompt tokens: {len(first) + 1}; whole, sent twice: identical = {first == again}")
    print(f"whole vs 128-token pieces: {len(differing)} positions differ", end="")
    if differing:
        worst = max(abs(x - y) for _, x, y in differing)
        print(f", from position {differing[0][0]}, by up to {worst:.4f} nats")
    else:
        print()


if __name__ == "__main__":
    main()
