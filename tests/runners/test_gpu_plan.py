"""The two-GPU plan."""

import pytest

from runners.gpu_plan import plan_gpus, replica_budget_gb, tensor_parallel_fallback


@pytest.mark.parametrize(
    ("total_gb", "parallelism", "expected"),
    [
        (20.0, "auto", (1, 2)),  # fits one 80 GB GPU: two replicas
        (64.0, "auto", (1, 2)),  # within 0.92 × 80 GiB less vLLM's runtime reserve
        (66.0, "auto", (2, 1)),  # under 90% of the GPU, but no room for activations and CUDA graphs
        (75.0, "auto", (2, 1)),
        (20.0, "tensor", (2, 1)),
        (20.0, "data", (1, 2)),
        (75.0, "data", (2, 1)),  # asked for replicas, but one does not fit
    ],
)
def test_two_gpus(total_gb: float, parallelism: str, expected: tuple[int, int]) -> None:
    plan = plan_gpus(total_gb, gpus=2, gpu_memory_gb=80, parallelism=parallelism)  # type: ignore[arg-type]
    assert (plan.tensor_parallel, plan.data_parallel) == expected
    assert plan.total_gb == total_gb and plan.reason and plan.fallback is None


def test_the_budget_leaves_vllm_its_headroom() -> None:
    assert replica_budget_gb(80) == pytest.approx(80 * 0.92 - 9)


def test_cpu_and_single_gpu() -> None:
    assert (
        plan_gpus(5, gpus=0, gpu_memory_gb=0).tensor_parallel,
        plan_gpus(5, gpus=0, gpu_memory_gb=0).data_parallel,
    ) == (1, 1)
    one = plan_gpus(5, gpus=2, gpu_memory_gb=80, requested=1)
    assert (one.tensor_parallel, one.data_parallel) == (1, 1) and one.reason == "one GPU"
    assert plan_gpus(5, gpus=1, gpu_memory_gb=80).reason == "one GPU"


def test_fallback_spans_the_replicas_gpus_and_says_why() -> None:
    replicas = plan_gpus(60, gpus=2, gpu_memory_gb=80)
    after = tensor_parallel_fallback(replicas, "ValueError: No available memory for the cache blocks.")
    assert (after.tensor_parallel, after.data_parallel) == (2, 1)
    assert "ran out of memory" in after.reason and "cache blocks" in (after.fallback or "")
    assert after.total_gb == replicas.total_gb


@pytest.mark.parametrize(
    ("gpus", "gpu_memory_gb", "total_gb", "setting", "capacity"),
    [
        (2, 80, 20.0, None, 2 * 1024),  # two H100 replicas, vLLM's H100 default each
        (2, 80, 75.0, None, 1024),  # one tensor-parallel replica
        (2, 24, 5.0, None, 2 * 256),  # smaller GPUs: vLLM's 256
        (0, 0, 1.0, None, 128),  # vLLM's CPU default
        (2, 80, 20.0, 64, 2 * 64),  # the setting wins
    ],
)
def test_the_plans_capacity_is_sequences_per_replica_times_replicas(
    gpus: int, gpu_memory_gb: float, total_gb: float, setting: int | None, capacity: int
) -> None:
    plan = plan_gpus(total_gb, gpus=gpus, gpu_memory_gb=gpu_memory_gb, max_num_seqs=setting)
    assert plan.capacity == capacity


def test_the_fallback_to_one_replica_halves_the_capacity() -> None:
    plan = plan_gpus(20, gpus=2, gpu_memory_gb=80)
    assert tensor_parallel_fallback(plan, "CUDA out of memory").capacity == 1024
