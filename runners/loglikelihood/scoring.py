"""Log-likelihood arithmetic, independent of any server: lm-evaluation-harness' rules.

A choice's log-likelihood is the sum of the log-probabilities of its continuation tokens
given the context. Which tokens are the continuation's is decided the way
lm-evaluation-harness' `_encode_pair` decides it: trailing spaces of the context move to the
continuation, the context is tokenized alone, the context + continuation together, and the
continuation is what the whole has beyond the context's token count. The prompt sent is the
context's tokens followed by those continuation tokens (so a token merge across the boundary
is resolved as the harness resolves it), with the tokenizer's special tokens (BOS) first.

- `acc` picks the highest log-likelihood;
- `acc_norm` the highest log-likelihood per character of the choice text, *without* the
  target delimiter (the space joining it to the context): the harness' `acc_norm`;
- TruthfulQA MC2's `acc` is the probability mass of the true choices, normalised over all.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ChoiceScore", "EncodedChoice", "encode_choice", "mc2_true_mass", "move_trailing_space", "pick"]


@dataclass(frozen=True)
class ChoiceScore:
    """One scored choice."""

    logprob: float
    """Sum of the continuation tokens' log-probabilities."""
    chars: int
    """Length of the choice text in characters (without the target delimiter)."""
    greedy: bool
    """Every continuation token was the model's top choice."""

    @property
    def normalized(self) -> float:
        """Log-probability per character of the choice (lm-evaluation-harness' acc_norm)."""
        return self.logprob / max(self.chars, 1)


def move_trailing_space(context: str, continuation: str) -> tuple[str, str]:
    """Trailing whitespace of the context moves to the continuation (the harness' `_encode_pair`)."""
    stripped = context.rstrip()
    return stripped, context[len(stripped) :] + continuation


@dataclass(frozen=True)
class EncodedChoice:
    """A choice's prompt as token ids, and how many of its last tokens are the continuation."""

    prompt: list[int]
    continuation: int


def encode_choice(context_ids: Sequence[int], whole_ids: Sequence[int]) -> EncodedChoice:
    """The harness' split: the whole text's tokens beyond the context's count, after the context's.

    Both lists come from the same tokenizer with the same special tokens (BOS) prepended.
    """
    tail = list(whole_ids[len(context_ids) :])
    if not tail:
        raise ValueError("the continuation has no tokens of its own after the context")
    return EncodedChoice(list(context_ids) + tail, len(tail))


def pick(scores: Sequence[ChoiceScore]) -> tuple[int, int]:
    """(index by raw log-probability, index by length-normalised log-probability).

    Ties go to the first choice, as numpy's argmax in the harness.
    """
    raw = max(range(len(scores)), key=lambda i: scores[i].logprob)
    norm = max(range(len(scores)), key=lambda i: scores[i].normalized)
    return raw, norm


def mc2_true_mass(loglikelihoods: Sequence[float], labels: Sequence[int]) -> float:
    """TruthfulQA MC2: the true choices' share of the probability of all choices.

    Every choice labelled true counts (lm-evaluation-harness 0.4.13's `process_results_mc2`;
    its earlier versions split at the first false label, which in two of the 817 questions
    counts a true answer listed after a false one as false).
    """
    top = max(loglikelihoods)  # shifted, so that very unlikely answers cannot make it 0/0
    probs = [math.exp(x - top) for x in loglikelihoods]
    return sum(p for p, label in zip(probs, labels, strict=True) if label == 1) / sum(probs)
