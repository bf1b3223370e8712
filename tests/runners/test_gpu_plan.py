"""The two-GPU plan."""

import pytest

from runners.gpu_plan import plan_gpus


@pytest.mark.parametrize(
    ("total_gb", "parallelism", "expected"),
    [
        (20.0, "auto", (1, 2)),  # fits one 80 GB GPU: two replicas
        (75.0, "auto", (2, 1)),  # over 90% of one GPU: split it
        (20.0, "tensor", (2, 1)),
        (20.0, "data", (1, 2)),
        (75.0, "data", (2, 1)),  # asked for replicas, but one does not fit
    ],
)
def test_two_gpus(total_gb: float, parallelism: str, expected: tuple[int, int]) -> None:
    plan = plan_gpus(total_gb, gpus=2, gpu_memory_gb=80, parallelism=parallelism)  # type: ignore[arg-type]
    assert (plan.tensor_parallel, plan.data_parallel) == expected
    assert plan.total_gb == total_gb and plan.reason


def test_cpu_and_single_gpu() -> None:
    assert (
        plan_gpus(5, gpus=0, gpu_memory_gb=0).tensor_parallel,
        plan_gpus(5, gpus=0, gpu_memory_gb=0).data_parallel,
    ) == (1, 1)
    one = plan_gpus(5, gpus=2, gpu_memory_gb=80, requested=1)
    assert (one.tensor_parallel, one.data_parallel) == (1, 1) and one.reason == "one GPU"
    assert plan_gpus(5, gpus=1, gpu_memory_gb=80).reason == "one GPU"
