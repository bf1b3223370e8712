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


@pytest.mark.parametrize(
    ("job", "setting", "capacity", "hosted", "fixed", "adaptive_max"),
    [
        (None, None, 2048, False, 2048, None),  # a served checkpoint: what its server batches
        (16, None, 2048, False, 16, None),  # the job's figure wins
        (None, 32, 2048, False, 32, None),  # else the setting's
        (16, 32, 2048, False, 16, None),
        (None, None, None, False, 8, None),  # a server started without a figure
        (None, None, None, True, None, None),  # a hosted API: inspect-ai adapts, within its bounds
        (50, None, None, True, None, 50),  # ... capped by the job
        (None, 40, None, True, None, 40),
    ],
)
def test_requests_in_flight_follow_the_server_unless_told(
    job: int | None,
    setting: int | None,
    capacity: int | None,
    hosted: bool,
    fixed: int | None,
    adaptive_max: int | None,
) -> None:
    from runners.evaluate import _concurrency_args, choose_concurrency

    chosen = choose_concurrency(job, setting, server_capacity=capacity, hosted=hosted)
    assert (chosen.max_connections, chosen.adaptive_max) == (fixed, adaptive_max) and chosen.source
    args = _concurrency_args(chosen)
    if fixed is not None:
        assert args == {"max_connections": fixed}  # static: inspect-ai's adaptive controller is off
    else:
        assert args == {"adaptive_connections": adaptive_max or True}
