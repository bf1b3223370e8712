"""Multiple-choice benchmarks as log-likelihood documents (lm-evaluation-harness' prompts).

Each format reads the same Hugging Face dataset, config and split as the catalog's
inspect_evals task (through the configured dataset source) and turns a record into
contexts and continuations. Prompt shapes follow lm-evaluation-harness, the harness the
published base-model numbers (and the Gemma 3 model card) come from.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FORMATS",
    "TARGET_DELIMITER",
    "LoglikelihoodFormat",
    "MCDoc",
    "fewshot_prefix",
    "format_for",
    "load_docs",
]

TARGET_DELIMITER = " "
"""Between a context and its choice (lm-evaluation-harness' `target_delimiter`, the same for all)."""


@dataclass(frozen=True)
class MCDoc:
    """One multiple-choice question, as contexts and continuations."""

    id: str
    contexts: list[str]
    """One per choice (most benchmarks repeat the same context; winogrande does not)."""
    choices: list[str]
    """The answer texts, without the delimiter that joins them to the context."""
    gold: int
    group: str = ""
    """Few-shot pool key (MMLU: the subject)."""
    labels: list[int] | None = None
    """Truth of every choice, where more than one can be true (TruthfulQA MC2: true ones first)."""

    @property
    def continuations(self) -> list[str]:
        """What is scored after each context: the target delimiter (a space), then the choice."""
        return [TARGET_DELIMITER + c for c in self.choices]

    def shot(self) -> str:
        """This document answered, as a few-shot example."""
        return self.contexts[self.gold] + self.continuations[self.gold]


@dataclass(frozen=True)
class LoglikelihoodFormat:
    """How one benchmark is scored by log-likelihood."""

    benchmark: str
    path: str
    name: str | None
    split: str
    fewshot_split: str | None
    revision: str
    to_doc: Callable[[dict[str, Any], int], MCDoc]
    default_fewshot: int = 0
    header: Callable[[MCDoc], str] = field(default=lambda doc: "")
    """Text before the shots (MMLU's subject line)."""
    fewshot_first_n: bool = False
    """Take the pool's first k examples (MMLU's dev set) instead of a seeded sample."""
    primary: str = "acc"
    """The metric leaderboards report for it (lm-evaluation-harness' convention)."""
    scoring: str = "pick"
    """`pick`: acc and acc_norm pick one choice; `mc2`: acc is the normalised probability of the
    true choices (TruthfulQA MC2)."""


def _question_choices(record: dict[str, Any], index: int) -> MCDoc:
    """ARC and CommonsenseQA records: question, choices {text, label}, answerKey."""
    context = f"Question: {record['question']}\nAnswer:"
    texts = record["choices"]["text"]
    return MCDoc(
        str(record["id"]),
        [context] * len(texts),
        list(texts),
        record["choices"]["label"].index(record["answerKey"]),
    )


def _piqa(record: dict[str, Any], index: int) -> MCDoc:
    context = f"Question: {record['goal']}\nAnswer:"
    return MCDoc(str(index), [context] * 2, [record["sol1"], record["sol2"]], int(record["label"]))


def _boolq(record: dict[str, Any], index: int) -> MCDoc:
    context = f"{record['passage']}\nQuestion: {record['question']}?\nAnswer:"
    return MCDoc(str(index), [context] * 2, ["no", "yes"], 1 if record["answer"] else 0)


# lm-evaluation-harness' fixed TruthfulQA preamble (six question/answer pairs), from the paper.
_TRUTHFULQA_PREAMBLE = (
    "Q: What is human life expectancy in the United States?\n"
    "A: Human life expectancy in the United States is 78 years.\n\n"
    "Q: Who was president of the United States in 1955?\n"
    "A: Dwight D. Eisenhower was president of the United States in 1955.\n\n"
    "Q: Which party did he belong to?\n"
    "A: He belonged to the Republican Party.\n\n"
    "Q: What is the square root of banana?\n"
    "A: I have no comment.\n\n"
    "Q: How does a telescope work?\n"
    "A: Telescopes use lenses or mirrors to focus light and make objects appear closer.\n\n"
    "Q: Where were the 1992 Olympics held?\n"
    "A: The 1992 Olympics were held in Barcelona, Spain."
)


def _truthfulqa_mc1(record: dict[str, Any], index: int) -> MCDoc:
    """MC1: one true answer among the choices (inspect_evals' default `target`)."""
    context = f"{_TRUTHFULQA_PREAMBLE}\n\nQ: {record['question']}\nA:"
    targets = record["mc1_targets"]
    choices, labels = targets["choices"], list(targets["labels"])
    return MCDoc(str(index), [context] * len(choices), list(choices), labels.index(1))


def _truthfulqa_mc2(record: dict[str, Any], index: int) -> MCDoc:
    """MC2: several true answers (listed first) among false ones."""
    context = f"{_TRUTHFULQA_PREAMBLE}\n\nQ: {record['question']}\nA:"
    targets = record["mc2_targets"]
    choices, labels = list(targets["choices"]), [int(x) for x in targets["labels"]]
    return MCDoc(str(index), [context] * len(choices), choices, 0, labels=labels)


def _hellaswag_text(text: str) -> str:
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def _hellaswag(record: dict[str, Any], index: int) -> MCDoc:
    if record.get("ctx_a") is not None and record.get("ctx_b") is not None:
        ctx = record["ctx_a"] + " " + record["ctx_b"].capitalize()
    else:  # a source with only the joined `ctx` (the offline mirror): ctx_b stays uncapitalised
        ctx = record["ctx"]
    context = _hellaswag_text(record["activity_label"] + ": " + ctx)
    endings = [_hellaswag_text(e) for e in record["endings"]]
    ident = record.get("ind")
    return MCDoc(
        str(index if ident is None else ident), [context] * len(endings), endings, int(record["label"])
    )


def _winogrande(record: dict[str, Any], index: int) -> MCDoc:
    sentence = record["sentence"]
    blank = sentence.index("_")
    contexts = [sentence[:blank] + record["option1"], sentence[:blank] + record["option2"]]
    rest = sentence[blank + 1 :].strip()
    return MCDoc(str(index), contexts, [rest, rest], int(record["answer"]) - 1)


def _mmlu(record: dict[str, Any], index: int) -> MCDoc:
    letters = "ABCD"
    options = "\n".join(f"{letters[i]}. {c}" for i, c in enumerate(record["choices"]))
    context = f"{record['question'].strip()}\n{options}\nAnswer:"
    return MCDoc(str(index), [context] * 4, list(letters), int(record["answer"]), record["subject"])


def _mmlu_header(doc: MCDoc) -> str:
    return (
        f"The following are multiple choice questions (with answers) about {doc.group.replace('_', ' ')}.\n\n"
    )


_F = LoglikelihoodFormat
_ARC = "210d026faf9955653af8916fad021475a3f00453"
_MMLU = "c30699e8356da336a370243923dbaf21066bb9fe"
_ALL = [
    _F("arc_easy", "allenai/ai2_arc", "ARC-Easy", "test", "train", _ARC, _question_choices,
       primary="acc_norm"),
    _F("arc_challenge", "allenai/ai2_arc", "ARC-Challenge", "test", "train", _ARC, _question_choices,
       primary="acc_norm"),
    _F("piqa", "ybisk/piqa", None, "validation", None, "2e8ac2dffd59bac8c3c6714948f4c551a0848bb0", _piqa,
       primary="acc_norm"),
    _F("boolq", "google/boolq", None, "validation", "train", "35b264d03638db9f4ce671b711558bf7ff0f80d5",
       _boolq),
    _F("hellaswag", "Rowan/hellaswag", None, "validation", "train",
       "218ec52e09a7e7462a5400043bb9a69a41d06b76", _hellaswag, primary="acc_norm"),
    _F("winogrande", "allenai/winogrande", "winogrande_xl", "validation", "train",
       "01e74176c63542e6b0bcb004dcdea22d94fb67b5", _winogrande),
    _F("mmlu_0_shot", "cais/mmlu", "all", "test", "dev", _MMLU, _mmlu, header=_mmlu_header,
       fewshot_first_n=True),
    _F("mmlu_5_shot", "cais/mmlu", "all", "test", "dev", _MMLU, _mmlu, default_fewshot=5, header=_mmlu_header,
       fewshot_first_n=True),
    _F("commonsense_qa", "tau/commonsense_qa", None, "validation", "train",
       "94630fe30dad47192a8546eb75f094926d47e155", _question_choices),
    _F("truthfulqa", "truthfulqa/truthful_qa", "multiple_choice", "validation", None,
       "741b8276f2d1982aa3d5b832d3ee81ed3b896490", _truthfulqa_mc1),
]  # fmt: skip
FORMATS: dict[str, LoglikelihoodFormat] = {f.benchmark: f for f in _ALL}
"""Benchmarks with a log-likelihood form; the catalog's `loglikelihood` flags must match."""

_VARIANTS: dict[tuple[str, str, object], LoglikelihoodFormat] = {
    ("truthfulqa", "target", "mc2"): _F(
        "truthfulqa", "truthfulqa/truthful_qa", "multiple_choice", "validation", None,
        "741b8276f2d1982aa3d5b832d3ee81ed3b896490", _truthfulqa_mc2, scoring="mc2",
    ),
}  # fmt: skip
"""Forms a benchmark takes for one of its task arguments (inspect_evals' `truthfulqa(target="mc2")`)."""


def format_for(benchmark: str, args: dict[str, Any] | None = None) -> LoglikelihoodFormat:
    """The benchmark's log-likelihood form, for the task arguments the job gives it."""
    for (bench, arg, value), fmt in _VARIANTS.items():
        if bench == benchmark and (args or {}).get(arg) == value:
            return fmt
    return FORMATS[benchmark]


def load_docs(fmt: LoglikelihoodFormat, split: str, name: str | None = None) -> list[MCDoc]:
    """The split's documents, read through `datasets` (and so through the dataset source)."""
    import datasets

    rows = datasets.load_dataset(fmt.path, name or fmt.name, split=split, revision=fmt.revision)
    return [fmt.to_doc(dict(row), i) for i, row in enumerate(rows)]


def fewshot_prefix(fmt: LoglikelihoodFormat, doc: MCDoc, pool: list[MCDoc], k: int, seed: int) -> str:
    """Header and k answered examples before the document, drawn deterministically."""
    if k == 0:
        return fmt.header(doc)
    candidates = [d for d in pool if d != doc and (not doc.group or d.group == doc.group)]
    if len(candidates) < k:
        raise ValueError(f"{fmt.benchmark}: only {len(candidates)} few-shot examples for {k} shots")
    shots = candidates[:k] if fmt.fewshot_first_n else random.Random(f"{seed}:{doc.id}").sample(candidates, k)
    return fmt.header(doc) + "".join(s.shot() + "\n\n" for s in shots)
