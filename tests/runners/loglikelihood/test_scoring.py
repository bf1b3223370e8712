import math

import pytest

from runners.loglikelihood.formats import FORMATS, load_docs
from runners.loglikelihood.scoring import (
    ChoiceScore,
    encode_choice,
    mc2_true_mass,
    move_trailing_space,
    pick,
)


def test_trailing_space_of_the_context_moves_to_the_continuation() -> None:
    assert move_trailing_space("Answer: ", "yes") == ("Answer:", " yes")
    assert move_trailing_space("Answer:", " yes") == ("Answer:", " yes")
    assert move_trailing_space("A:\n \n", "x") == ("A:", "\n \nx")


def test_the_continuation_is_the_whole_texts_tokens_beyond_the_contexts_count() -> None:
    # BOS=2; "Q:" -> [10, 11]; "Q: four" -> [10, 11, 12, 13]
    choice = encode_choice([2, 10, 11], [2, 10, 11, 12, 13])
    assert choice.prompt == [2, 10, 11, 12, 13] and choice.continuation == 2


def test_a_token_merged_across_the_boundary_keeps_the_contexts_own_tokens() -> None:
    # "A:" alone -> [7, 8]; "A: x" merges ":" and " x" -> [7, 9]: the harness sends the context's
    # tokens, then what the whole has beyond the context's count (here [] -> an error).
    with pytest.raises(ValueError, match="no tokens of its own"):
        encode_choice([2, 7, 8], [2, 7, 9])
    # "A:" -> [7, 8]; "A: xy" -> [7, 9, 5]: the prompt is [7, 8] + [5], as in lm-evaluation-harness
    assert encode_choice([2, 7, 8], [2, 7, 9, 5]).prompt == [2, 7, 8, 5]


def test_acc_and_acc_norm_can_disagree() -> None:
    short = ChoiceScore(logprob=-2.0, chars=2, greedy=False)  # -1.0 per char
    long = ChoiceScore(logprob=-3.0, chars=10, greedy=False)  # -0.3 per char
    assert pick([short, long]) == (0, 1)
    assert math.isclose(long.normalized, -0.3)


def test_ties_go_to_the_first_choice_as_argmax() -> None:
    same = ChoiceScore(logprob=-1.0, chars=1, greedy=False)
    assert pick([same, same]) == (0, 0)


def test_acc_norm_divides_by_the_choice_without_the_target_delimiter(datasets_dir: object) -> None:
    """The harness' acc_norm: len(choice), not len(" " + choice) (ARC-Easy moved 2 points)."""
    from runners.datasets_source import activate

    activate(datasets_dir)  # type: ignore[arg-type]
    doc = load_docs(FORMATS["arc_easy"], "test")[0]
    assert all(x == " " + c for x, c in zip(doc.continuations, doc.choices, strict=True))
    # With the delimiter counted, "-3 over 1+1 chars" beats "-5.5 over 10+1"; the harness' way it does not.
    a, b = ChoiceScore(-3.0, 1, False), ChoiceScore(-5.5, 10, False)
    assert pick([a, b])[1] == 1
    assert -3.0 / 2 < -5.5 / 11  # what the old per-continuation division picked: a


def test_mc2_is_the_true_answers_share_of_the_probability() -> None:
    lls = [math.log(0.2), math.log(0.1), math.log(0.3), math.log(0.4)]
    assert mc2_true_mass(lls, [1, 1, 0, 0]) == pytest.approx(0.3)
    assert mc2_true_mass(lls, [1, 0, 0, 1]) == pytest.approx(0.6)  # a true answer after a false one
    assert mc2_true_mass([-2000.0, -2001.0, -2002.0], [1, 0, 0]) == pytest.approx(
        1 / (1 + math.exp(-1) + math.exp(-2))
    )  # far below float range, still a number
