"""Log-likelihood scoring on the real vLLM CPU server: reproducible, and through inspect-ai."""

from pathlib import Path
from typing import Any, cast

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import ChatMessageUser, GenerateConfig, get_model

from runners.datasets_source import activate
from runners.loglikelihood import task as ll_task
from runners.loglikelihood.formats import FORMATS, load_docs
from runners.loglikelihood.task import loglikelihood_task, score_choices

pytestmark = pytest.mark.vllm


def _run(server: Any, benchmark: str, limit: int, log_dir: Path) -> Any:
    task = loglikelihood_task(benchmark, model_name=server.model, fewshot=0, seed=1234, limit=limit)
    model = get_model(
        f"openai-api/vllm/{server.model}", base_url=server.base_url, api_key=server.api_key, memoize=False
    )
    [log] = inspect_eval(
        task, model=model, max_connections=8, log_dir=str(log_dir), display="none", log_level="warning"
    )
    assert log.status == "success", log.error
    return log


@pytest.mark.parametrize("benchmark", ["arc_easy", "boolq"])
def test_a_rerun_gives_bit_identical_loglikelihoods(
    server: Any, datasets_dir: Path, tmp_path: Path, benchmark: str
) -> None:
    """Eight requests in flight, batched as the server likes: every per-choice value is the same."""
    activate(datasets_dir)
    first, second = (_run(server, benchmark, 16, tmp_path / str(i)) for i in range(2))
    values = [{s.id: s.metadata["loglikelihoods"] for s in log.samples} for log in (first, second)]
    assert values[0] == values[1]
    assert len(values[0]) == 16


def test_requests_go_through_inspects_model_layer(server: Any, datasets_dir: Path, tmp_path: Path) -> None:
    activate(datasets_dir)
    log = _run(server, "piqa", 4, tmp_path)
    name = f"served-completions/vllm/{server.model}"
    usage = log.stats.model_usage[name]
    assert usage.input_tokens > 0 and usage.output_tokens == 2 * 4  # one prompt (and token) per choice
    for sample in log.samples:
        [event] = [e for e in sample.events if e.event == "model"]  # a request per question
        assert event.model == name and event.config.prompt_logprobs == 1
        assert event.call is not None and len(event.call.request["prompt"]) == 2  # its two choices' prompts
        assert len(event.output.choices) == 2
        assert sample.model_usage[name].input_tokens > 0


def test_single_token_choices_are_scored_from_one_prompt_with_the_same_values(
    server: Any, datasets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BoolQ's " no"/" yes": one prompt's top log-probabilities equal a prompt per choice, bit for bit."""
    import asyncio

    activate(datasets_dir)
    docs = load_docs(FORMATS["boolq"], "validation")[:6]
    model = get_model(
        f"served-completions/vllm/{server.model}", base_url=server.base_url, api_key=server.api_key
    )
    calls: list[int] = []
    shared = ll_task._shared_position_scores

    async def counting(*args: Any) -> Any:
        calls.append(1)
        return await shared(*args)

    async def score_all() -> list[list[float]]:
        out = []
        for d in docs:
            scores = await score_choices(model, d.contexts, d.choices, d.continuations)
            out.append([s.logprob for s in scores])
        return out

    monkeypatch.setattr(ll_task, "_shared_position_scores", counting)
    one_prompt = asyncio.run(score_all())
    assert len(calls) == len(docs)

    async def never(*args: Any) -> None:
        return None

    monkeypatch.setattr(ll_task, "_shared_position_scores", never)
    per_choice = asyncio.run(score_all())
    assert one_prompt == per_choice


def test_a_prompts_values_do_not_depend_on_what_else_is_in_flight(server: Any, datasets_dir: Path) -> None:
    """Four copies of a 900-token prompt in one request overflow a step's token budget (2048):
    with chunked prefill the server splits one of them, and its later tokens come out up to
    0.1 nats off. Every copy must equal the prompt sent alone."""
    import asyncio

    from runners.loglikelihood.provider import ServedCompletionsAPI

    activate(datasets_dir)
    passages = " ".join(d.contexts[0] for d in load_docs(FORMATS["boolq"], "validation")[:20])
    model = get_model(
        f"served-completions/vllm/{server.model}", base_url=server.base_url, api_key=server.api_key
    )
    api = cast(ServedCompletionsAPI, model.api)
    config = GenerateConfig(max_tokens=1, temperature=0.0, prompt_logprobs=1)

    async def values(copies: int) -> list[list[float]]:
        prompt = (await api.tokenize(passages, add_special_tokens=True))[:900]
        assert len(prompt) == 900
        message = ChatMessageUser(content="", metadata={"prompt_token_id_lists": [prompt] * copies})
        output = await model.generate([message], config=config)
        return [[lp.logprob for lp in c.prompt_logprobs.content] for c in output.choices if c.prompt_logprobs]

    [alone] = asyncio.run(values(1))
    together = asyncio.run(values(4))
    assert len(together) == 4
    assert all(len(v) == 899 for v in together)
    differing = [i for i, v in enumerate(together) if v != alone]
    assert not differing, f"copies {differing} differ from the prompt alone"
