"""Log-likelihood scoring as an inspect-ai task: same job, registry, W&B run, logs.

The solver asks the served model's OpenAI-compatible completions endpoint for the
log-probabilities of every choice (`echo=true`, `logprobs=1`, one request per sample
with all its choices); the scorer reports `acc` and `acc_norm`, each with its stderr.
"""

from __future__ import annotations

import json
from typing import Any

from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ModelOutput, get_model
from inspect_ai.scorer import CORRECT, INCORRECT, Score, Target, accuracy, scorer, stderr
from inspect_ai.solver import Generate, Solver, TaskState, solver

from runners.loglikelihood.formats import FORMATS, fewshot_prefix, load_docs
from runners.loglikelihood.scoring import ChoiceScore, continuation_logprob, echo_start, pick

__all__ = ["loglikelihood_scorer", "loglikelihood_solver", "loglikelihood_task"]

_clients: dict[tuple[str, str, int], Any] = {}


def _client(base_url: str, api_key: str) -> Any:
    import asyncio

    from openai import AsyncOpenAI

    key = (base_url, api_key, id(asyncio.get_running_loop()))  # a client's pool belongs to one loop
    if key not in _clients:
        _clients[key] = AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=3, timeout=600)
    return _clients[key]


@solver
def loglikelihood_solver(model_name: str) -> Solver:
    """Score every choice's continuation by the model's log-probabilities.

    The endpoint and key come from the eval's model (an OpenAI-compatible provider given its
    base URL), never from the solver's arguments: those are written into the log and are part
    of the task's identity, which must not change when a resumed job's server starts on
    another port (eval_set would refuse the log it resumes from), nor carry a key.
    """

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        api: Any = get_model().api
        if not api.base_url:
            raise ValueError(f"loglikelihood scoring needs the model server's base URL ({api.model_name})")
        client = _client(str(api.base_url), str(api.api_key))
        contexts: list[str] = state.metadata["contexts"]
        continuations: list[str] = state.metadata["continuations"]
        prompts = [c + x for c, x in zip(contexts, continuations, strict=True)]
        response = await client.completions.create(
            model=model_name,
            prompt=prompts,
            max_tokens=1,
            temperature=0,
            echo=True,
            logprobs=1,
        )
        scores = []
        for choice in sorted(response.choices, key=lambda c: c.index):
            i = choice.index
            lp = choice.logprobs
            top = [max(t, key=t.get) if t else None for t in lp.top_logprobs]
            start = echo_start(lp.tokens, choice.text, prompts[i])

            logprob, greedy = continuation_logprob(
                lp.text_offset, lp.token_logprobs, top, lp.tokens,
                start + len(contexts[i]), start + len(prompts[i]),
            )  # fmt: skip
            scores.append(ChoiceScore(logprob, len(continuations[i]), greedy))
        raw, norm = pick(scores)
        state.metadata["loglikelihoods"] = [s.logprob for s in scores]
        state.metadata["prediction"] = {"acc": raw, "acc_norm": norm}
        state.output = ModelOutput.from_content(model=model_name, content=continuations[raw].strip())
        if response.usage:
            state.metadata["prompt_tokens"] = response.usage.prompt_tokens
        return state

    return solve


@scorer(metrics={"acc": [accuracy(), stderr()], "acc_norm": [accuracy(), stderr()]})
def loglikelihood_scorer() -> Any:
    """acc: highest log-probability is gold; acc_norm: highest per-character log-probability is."""

    async def score(state: TaskState, target: Target) -> Score:
        gold = state.metadata["gold"]
        pred = state.metadata["prediction"]
        return Score(
            value={k: CORRECT if v == gold else INCORRECT for k, v in pred.items()},
            answer=chr(ord("A") + pred["acc"]),
            explanation=json.dumps({"loglikelihoods": state.metadata["loglikelihoods"], "gold": gold}),
        )

    return score


def loglikelihood_task(
    benchmark: str, *, model_name: str, fewshot: int | None, seed: int, limit: int | None
) -> Task:
    """The benchmark as a log-likelihood task over its catalog dataset and split."""
    fmt = FORMATS[benchmark]
    docs = load_docs(fmt, fmt.split)
    if limit is not None:
        docs = docs[:limit]
    k = fmt.default_fewshot if fewshot is None else fewshot
    pool, pool_split = [], None
    if k > 0:
        pool_split = fmt.fewshot_split or fmt.split
        try:
            pool = load_docs(fmt, pool_split)
        except (ValueError, FileNotFoundError) as exc:  # the source lacks that split: use the eval split
            if "split" not in str(exc).lower() and "not in the local dataset source" not in str(exc):
                raise
            pool_split, pool = fmt.split, load_docs(fmt, fmt.split)
    samples = []
    for doc in docs:
        prefix = fewshot_prefix(fmt, doc, pool, k, seed)
        samples.append(
            Sample(
                id=doc.id,
                input=prefix + doc.contexts[doc.gold],
                target=chr(ord("A") + doc.gold),
                choices=[c.strip() for c in doc.continuations],
                metadata={
                    "contexts": [prefix + c for c in doc.contexts],
                    "continuations": doc.continuations,
                    "gold": doc.gold,
                },
            )
        )
    return Task(
        name=benchmark,
        dataset=MemoryDataset(samples, name=f"{fmt.path}:{fmt.name or ''}:{fmt.split}"),
        solver=loglikelihood_solver(model_name),
        scorer=loglikelihood_scorer(),
        metadata={
            "scoring": "loglikelihood",
            "fewshot": k,
            "fewshot_seed": seed,
            "fewshot_split": pool_split,
        },
    )
