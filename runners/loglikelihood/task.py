"""Log-likelihood scoring as an inspect-ai task: same job, registry, W&B run, logs.

The solver sends each choice's prompt through inspect-ai's completions provider
(`runners.loglikelihood.provider`) as token ids, and reads vLLM's `prompt_logprobs`; the
scorer reports `acc` and `acc_norm` (TruthfulQA MC2: the true answers' probability mass),
each with its stderr.

A question's prompts go in one request (a prompt list), one model call per question. vLLM runs
each prompt of the list as a request of its own, and a prompt's log-probabilities are computed
on its own rows, so they do not depend on which prompts share a batch (with the server's
chunked prefill off, `runners.vllm_server.ServerOptions.chunked_prefill`: a prompt split
across steps rounds differently). The old request shape, a prompt list with `echo` and
`logprobs`, was not reproducible; this one is (tests/runners/loglikelihood/
test_against_server.py runs it twice). Where every choice is one token after the same context (MMLU's
letters, BoolQ's yes/no), one prompt scores them all: its last position's top 20 prompt
log-probabilities hold every choice's, unless one falls outside them. (The next-token
log-probabilities of a generation are not used: vLLM computes them for the whole batch at
once, and they moved by up to 0.13 nats between two runs of BoolQ here.)
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageUser, GenerateConfig, Logprob, Logprobs, Model, ModelOutput, get_model
from inspect_ai.scorer import CORRECT, INCORRECT, Score, Target, accuracy, mean, scorer, stderr
from inspect_ai.solver import Generate, Solver, TaskState, solver

from runners.loglikelihood.formats import LoglikelihoodFormat, fewshot_prefix, format_for, load_docs
from runners.loglikelihood.provider import ServedCompletionsAPI, completions_model
from runners.loglikelihood.scoring import (
    ChoiceScore,
    EncodedChoice,
    encode_choice,
    mc2_true_mass,
    move_trailing_space,
    pick,
)

__all__ = [
    "encode_choices",
    "loglikelihood_scorer",
    "loglikelihood_solver",
    "loglikelihood_task",
    "mc2_scorer",
]

_PROMPT = GenerateConfig(max_tokens=1, temperature=0.0, prompt_logprobs=1)
_PROMPT_TOP = GenerateConfig(
    max_tokens=1, temperature=0.0, prompt_logprobs=20,  # vLLM's default --max-logprobs
    extra_body={"return_tokens_as_token_ids": True},
)  # fmt: skip


async def _prompt_scores(
    model: Model, text: str, prompts: list[EncodedChoice], chars: list[int]
) -> list[ChoiceScore]:
    """Each continuation's log-likelihood from its prompt's own log-probabilities: the prompts
    in one request, each computed by the server as a request of its own."""
    message = ChatMessageUser(content=text, metadata={"prompt_token_id_lists": [p.prompt for p in prompts]})
    output = await model.generate([message], config=_PROMPT)
    scores = []
    for choice, encoded, n in zip(output.choices, prompts, chars, strict=True):
        tail = _whole_prompt(choice.prompt_logprobs, encoded.prompt)[-encoded.continuation :]
        greedy = all(
            not lp.top_logprobs or lp.logprob >= max(t.logprob for t in lp.top_logprobs) for lp in tail
        )
        scores.append(ChoiceScore(sum(lp.logprob for lp in tail), n, greedy))
    return scores


async def _shared_position_scores(
    model: Model, text: str, first: EncodedChoice, tokens: list[int], chars: list[int]
) -> list[ChoiceScore] | None:
    """Single-token choices after one context, from the first choice's prompt alone.

    Its last position's top log-probabilities hold every choice's (from the same prompt
    log-probability computation a prompt per choice would run); None if one is not among them.
    """
    message = ChatMessageUser(content=text, metadata={"prompt_token_ids": first.prompt})
    output = await model.generate([message], config=_PROMPT_TOP)
    last = _whole_prompt(output.choices[0].prompt_logprobs if output.choices else None, first.prompt)[-1]
    top = {_token_id(t.token): t.logprob for t in last.top_logprobs or []}
    top[_token_id(last.token)] = last.logprob
    if tokens[0] != _token_id(last.token) or not all(t in top for t in tokens):
        return None
    best = max(top.values())
    return [ChoiceScore(top[t], n, top[t] >= best) for t, n in zip(tokens, chars, strict=True)]


def _whole_prompt(logprobs: Logprobs | None, prompt: list[int]) -> list[Logprob]:
    """A prompt's log-probabilities, one per token after the first; an error unless all came back."""
    if logprobs is None or len(logprobs.content) != len(prompt) - 1:
        raise RuntimeError(
            f"the server returned no prompt log-probabilities for all {len(prompt)} prompt tokens "
            "(is it vLLM, with prompt_logprobs support?)"
        )
    return logprobs.content


def _token_id(token: str) -> int:
    return int(token.removeprefix("token_id:"))


async def encode_choices(
    api: ServedCompletionsAPI, contexts: list[str], continuations: list[str]
) -> tuple[list[tuple[str, str]], list[EncodedChoice]]:
    """Each choice's (context, continuation) after the harness' space move, and its prompt's token ids."""
    pairs = [move_trailing_space(c, x) for c, x in zip(contexts, continuations, strict=True)]
    texts = sorted({c for c, _ in pairs} | {c + x for c, x in pairs})
    encoded = await asyncio.gather(*(api.tokenize(t, add_special_tokens=True) for t in texts))
    ids = dict(zip(texts, encoded, strict=True))
    return pairs, [encode_choice(ids[c], ids[c + x]) for c, x in pairs]


async def score_choices(
    model: Model, contexts: list[str], choices: list[str], continuations: list[str]
) -> list[ChoiceScore]:
    """Every choice's log-likelihood, as lm-evaluation-harness computes it."""
    pairs, prompts = await encode_choices(cast(ServedCompletionsAPI, model.api), contexts, continuations)
    chars = [len(c) for c in choices]
    context = prompts[0].prompt[:-1]
    if len(prompts) > 1 and all(p.continuation == 1 and p.prompt[:-1] == context for p in prompts):
        text = pairs[0][0] + pairs[0][1]
        scores = await _shared_position_scores(
            model, text, prompts[0], [p.prompt[-1] for p in prompts], chars
        )
        if scores is not None:
            return scores
    return await _prompt_scores(model, pairs[0][0] + pairs[0][1], prompts, chars)


@solver
def loglikelihood_solver(model_name: str) -> Solver:
    """Score every choice by the served model's log-probabilities.

    The endpoint and key come from the eval's model (an OpenAI-compatible provider given its
    base URL), never from the solver's arguments: those are written into the log and are part
    of the task's identity, which must not change when a resumed job's server starts on
    another port (eval_set would refuse the log it resumes from), nor carry a key.
    """

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        model = completions_model(model_name, get_model())
        meta = state.metadata
        scores = await score_choices(model, meta["contexts"], meta["choices"], meta["continuations"])
        raw, norm = pick(scores)
        meta["loglikelihoods"] = [s.logprob for s in scores]
        meta["greedy"] = [s.greedy for s in scores]
        meta["prediction"] = {"acc": raw, "acc_norm": norm}
        state.output = ModelOutput.from_content(model=model_name, content=meta["choices"][raw])
        return state

    return solve


@scorer(metrics={"acc": [accuracy(), stderr()], "acc_norm": [accuracy(), stderr()]})
def loglikelihood_scorer() -> Any:
    """acc: the highest log-likelihood is gold; acc_norm: the highest per character of the choice is."""

    async def score(state: TaskState, target: Target) -> Score:
        gold = state.metadata["gold"]
        pred = state.metadata["prediction"]
        return Score(
            value={k: CORRECT if v == gold else INCORRECT for k, v in pred.items()},
            answer=chr(ord("A") + pred["acc"]),
            explanation=json.dumps({"loglikelihoods": state.metadata["loglikelihoods"], "gold": gold}),
        )

    return score


@scorer(metrics={"acc": [mean(), stderr()]})
def mc2_scorer() -> Any:
    """TruthfulQA MC2: the probability mass of the true answers, normalised over all answers."""

    async def score(state: TaskState, target: Target) -> Score:
        lls, labels = state.metadata["loglikelihoods"], state.metadata["labels"]
        return Score(
            value={"acc": mc2_true_mass(lls, labels)},
            answer=chr(ord("A") + state.metadata["prediction"]["acc"]),
            explanation=json.dumps({"loglikelihoods": lls, "labels": labels}),
        )

    return score


def loglikelihood_task(
    benchmark: str,
    *,
    model_name: str,
    fewshot: int | None,
    seed: int,
    limit: int | None,
    args: dict[str, Any] | None = None,
) -> Task:
    """The benchmark as a log-likelihood task over its catalog dataset and split."""
    fmt: LoglikelihoodFormat = format_for(benchmark, args)
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
                choices=doc.choices,
                metadata={
                    "contexts": [prefix + c for c in doc.contexts],
                    "choices": doc.choices,
                    "continuations": doc.continuations,
                    "gold": doc.gold,
                    "labels": doc.labels,
                },
            )
        )
    return Task(
        name=benchmark,
        dataset=MemoryDataset(samples, name=f"{fmt.path}:{fmt.name or ''}:{fmt.split}"),
        solver=loglikelihood_solver(model_name),
        scorer=mc2_scorer() if fmt.scoring == "mc2" else loglikelihood_scorer(),
        metadata={
            "scoring": "loglikelihood",
            "fewshot": k,
            "fewshot_seed": seed,
            "fewshot_split": pool_split,
        },
    )
