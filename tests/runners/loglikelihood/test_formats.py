"""Prompt formats on the real records of the offline mirror."""

from pathlib import Path

import pytest

from evaljobs.catalog import load_catalog
from runners.datasets_source import activate
from runners.loglikelihood.formats import FORMATS, fewshot_prefix, format_for, load_docs


@pytest.fixture(scope="module", autouse=True)
def mirror(datasets_dir: Path) -> None:
    activate(datasets_dir)


def test_catalog_flags_match_the_formats() -> None:
    assert {k for k, e in load_catalog().items() if e.loglikelihood} == set(FORMATS)


def test_arc_doc() -> None:
    doc = load_docs(FORMATS["arc_easy"], "test")[0]
    assert doc.contexts[0].startswith("Question: ") and doc.contexts[0].endswith("\nAnswer:")
    assert all(c.startswith(" ") for c in doc.continuations) and 0 <= doc.gold < len(doc.continuations)


def test_boolq_and_piqa_docs() -> None:
    boolq = load_docs(FORMATS["boolq"], "validation")[0]
    assert (
        boolq.choices == ["no", "yes"]
        and boolq.continuations == [" no", " yes"]
        and boolq.contexts[0].endswith("?\nAnswer:")
    )
    piqa = load_docs(FORMATS["piqa"], "validation")
    assert len(piqa) == 1838 and {d.gold for d in piqa} == {0, 1}


def test_winogrande_scores_the_same_continuation_after_each_option() -> None:
    doc = load_docs(FORMATS["winogrande"], "validation")[0]
    assert doc.continuations[0] == doc.continuations[1]
    assert doc.contexts[0] != doc.contexts[1] and "_" not in doc.contexts[0]


def test_truthfulqa_mc1_has_the_fixed_preamble_and_one_true_answer() -> None:
    docs = load_docs(FORMATS["truthfulqa"], "validation")
    assert len(docs) == 817
    doc = docs[0]
    assert doc.contexts[0].startswith("Q: What is human life expectancy in the United States?")
    assert doc.contexts[0].endswith("\nA:") and doc.contexts[0].count("\n\nQ: ") == 6
    assert doc.gold == 0 and len(doc.continuations) >= 2  # the dataset lists the true answer first


def test_truthfulqa_mc2_lists_the_true_answers_first() -> None:
    fmt = format_for("truthfulqa", {"target": "mc2"})
    assert fmt.scoring == "mc2" and format_for("truthfulqa", {}).scoring == "pick"
    docs = load_docs(fmt, "validation")
    assert len(docs) == 817
    assert all(d.labels is not None and len(d.labels) == len(d.choices) and d.labels[0] == 1 for d in docs)
    # Two questions list a true answer after a false one: mc2_true_mass counts it true, as the
    # harness (0.4.13) does.
    late = [d for d in docs if d.labels and set(d.labels[d.labels.index(0) :]) != {0}]
    assert len(late) == 2


def test_hellaswag_text_is_cleaned() -> None:
    docs = load_docs(FORMATS["hellaswag"], "validation")
    assert len(docs) == 500 and not any("[" in c for d in docs for c in d.continuations)


def test_mmlu_five_shot_uses_the_subjects_first_dev_examples() -> None:
    fmt = FORMATS["mmlu_5_shot"]
    doc = load_docs(fmt, "test")[0]
    pool = load_docs(fmt, "dev")
    prefix = fewshot_prefix(fmt, doc, pool, 5, seed=1234)
    subject = doc.group.replace("_", " ")
    assert prefix.startswith(
        f"The following are multiple choice questions (with answers) about {subject}.\n\n"
    )
    assert prefix.count("\nAnswer: ") == 5
    assert prefix == fewshot_prefix(fmt, doc, pool, 5, seed=99)  # first-n: no randomness


def test_seeded_fewshot_is_deterministic_and_excludes_the_document() -> None:
    fmt = FORMATS["arc_easy"]
    pool = load_docs(fmt, "train")
    doc = pool[3]
    a, b = fewshot_prefix(fmt, doc, pool, 3, 1234), fewshot_prefix(fmt, doc, pool, 3, 1234)
    assert a == b and a.count("Question: ") == 3 and doc.shot() not in a
    assert fewshot_prefix(fmt, doc, pool, 3, 7) != a


def test_arc_challenge_25_shot_draws_its_shots_from_train() -> None:
    from runners.loglikelihood.task import loglikelihood_task

    task = loglikelihood_task("arc_challenge", model_name="m", fewshot=25, seed=1234, limit=3)
    train = {d.shot() for d in load_docs(FORMATS["arc_challenge"], "train")}
    assert task.metadata == {
        "scoring": "loglikelihood",
        "fewshot": 25,
        "fewshot_seed": 1234,
        "fewshot_split": "train",
    }
    for sample in task.dataset:
        context = sample.metadata["contexts"][0]
        shots = context.split("\n\n")[:-1]
        assert len(shots) == 25 and all(s in train for s in shots)
