from pathlib import Path

import pytest

from evaljobs.errors import EvaluationError
from evaljobs.spec import JobSpec
from runners.datasets_source import activate
from runners.evaluate import build_tasks


def ids(spec: JobSpec) -> list[list[object]]:
    return [[s.id for s in task.dataset] for task in build_tasks(spec)]


def test_limits_and_sample_selection_are_deterministic(datasets_dir: Path) -> None:
    activate(datasets_dir)
    spec = JobSpec.model_validate(
        {
            "model": {"checkpoint": {"uri": "/m"}},
            "benchmarks": ["arc_easy", {"id": "boolq", "limit": 3}],
            "limit": 5,
        }
    )
    first, second = ids(spec), ids(spec)
    assert [len(x) for x in first] == [5, 3]
    assert first == second  # boolq shuffles at load without a seed; the job's seed pins it
    other_seed = JobSpec.model_validate({**spec.model_dump(), "generation": {"seed": 7}})
    assert ids(other_seed)[1] != first[1]


def test_task_args_the_task_does_not_take_are_a_clear_error(datasets_dir: Path) -> None:
    activate(datasets_dir)
    spec = JobSpec.model_validate(
        {"model": {"checkpoint": {"uri": "/m"}}, "benchmarks": [{"id": "arc_easy", "args": {"no_such": 1}}]}
    )
    with pytest.raises(EvaluationError, match=r"arc_easy: its args \['no_such'\] do not fit the task"):
        build_tasks(spec)
